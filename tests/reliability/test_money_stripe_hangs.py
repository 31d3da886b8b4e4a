"""No Stripe call while a database row lock is held: with Stripe hanging in the middle of a refund, the
live room's stage actions in that Space (which lock its row) still complete at once.

Real PostgreSQL row locks, separate connections (threads), the fake Stripe over HTTP made to hang.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from django.db import connection
from django.test import Client

from live import stage
from payments import services
from payments.models import Ticket
from rooms import services as rooms_services
from rooms.models import Participant
from tests.jobs.money import refunds_at_stripe, sell
from tests.jobs.procs import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

STAGE_ACTION_BUDGET = 1.0  # seconds


def _hang_refunds(fake_stripe, seconds: float) -> None:
    requests.post(
        fake_stripe.url + "/_fake/latency", data={"seconds": seconds, "path": "/v1/refunds", "method": "POST"}
    ).raise_for_status()


def _refunds_waiting(fake_stripe) -> int:
    return requests.get(fake_stripe.url + "/_fake/latency").json()["waiting"]


def _in_thread(work) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # noqa: BLE001 - reported by the test
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _live_with_a_speaker(space, host, speaker) -> None:
    rooms_services.start_space(space, host)
    Participant.objects.create(space=space, user=speaker, role=Participant.Role.SPEAKER, is_muted=False)


def _timed_mute(space, host, speaker) -> float:
    started = time.monotonic()
    stage.mute(space.pk, host, speaker)
    took = time.monotonic() - started
    assert Participant.objects.get(space=space, user=speaker).is_muted
    return took


def test_a_stage_action_is_not_held_up_by_a_webhook_refunding_an_oversold_ticket(
    fake_stripe, make_space, make_user, press_buy
):
    host, speaker, late = make_user("host"), make_user("speaker"), make_user("late")
    space = make_space(host, capacity=1)
    late_client = Client()
    late_client.force_login(late)
    late_session = press_buy(late_client, space)
    fake_stripe.pay(late_session)  # paid at Stripe, but its webhook is late ...
    Ticket.objects.filter(buyer=late).update(state=Ticket.State.EXPIRED)  # ... and our clock released the seat
    sell(fake_stripe, space, make_user, press_buy, 1)  # someone else took the last seat
    _live_with_a_speaker(space, host, speaker)

    _hang_refunds(fake_stripe, 30)
    event = fake_stripe.event("checkout.session.completed", late_session)
    webhook, answer = _in_thread(lambda: fake_stripe.deliver(event).status_code)
    try:
        wait_for(lambda: _refunds_waiting(fake_stripe) == 1, 10, "the refund never reached Stripe")
        took = _timed_mute(space, host, speaker)
        print(f"\nmute while Stripe hangs on a refund: {took * 1000:.0f} ms")
        assert took < STAGE_ACTION_BUDGET
    finally:
        _hang_refunds(fake_stripe, 0)  # Stripe answers
        webhook.join(timeout=30)
    assert answer == [200]
    ticket = Ticket.objects.get(buyer=late)
    assert (ticket.state, ticket.refund_reason) == (Ticket.State.REFUNDED, Ticket.RefundReason.OVERSOLD)
    assert len(refunds_at_stripe(fake_stripe, ticket)) == 1


def test_a_stage_action_is_not_held_up_by_a_staff_refund(fake_stripe, make_space, make_user, press_buy):
    host, speaker = make_user("host"), make_user("speaker")
    space = make_space(host)
    [ticket] = sell(fake_stripe, space, make_user, press_buy, 1)
    _live_with_a_speaker(space, host, speaker)

    _hang_refunds(fake_stripe, 30)
    refund, outcome = _in_thread(lambda: services.staff_refund(ticket).state)
    try:
        wait_for(lambda: _refunds_waiting(fake_stripe) == 1, 10, "the refund never reached Stripe")
        took = _timed_mute(space, host, speaker)
        assert took < STAGE_ACTION_BUDGET
        # The buyer's ticket stopped counting the moment the refund was decided.
        assert services.current_ticket(space, ticket.buyer).refund_pending
    finally:
        _hang_refunds(fake_stripe, 0)
        refund.join(timeout=30)
    assert outcome == [Ticket.State.REFUNDED]
    assert len(refunds_at_stripe(fake_stripe, ticket)) == 1
