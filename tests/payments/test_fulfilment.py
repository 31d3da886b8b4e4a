"""Fulfilment re-reads the session from Stripe and checks it against the database before granting."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from payments import services
from payments.models import Ticket, WebhookEvent
from payments.services import seats_left

pytestmark = pytest.mark.django_db


def _ticket(space) -> Ticket:
    return Ticket.objects.get(space=space)


def test_success_page_before_the_webhook_shows_the_paid_ticket(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id)
    page = buyer_client.get(f"/spaces/{space.pk}/tickets/success/?session_id={session_id}")
    assert "your ticket is confirmed" in page.content.decode()
    assert _ticket(space).state == Ticket.State.PAID
    # The webhook lands afterwards and changes nothing.
    assert fake_stripe.deliver(fake_stripe.event("checkout.session.completed")).status_code == 200
    assert Ticket.objects.filter(state=Ticket.State.PAID).count() == 1


def test_success_page_after_the_webhook_shows_the_paid_ticket(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id)
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed"))
    page = buyer_client.get(f"/spaces/{space.pk}/tickets/success/?session_id={session_id}")
    assert "your ticket is confirmed" in page.content.decode()


def test_the_success_url_alone_grants_nothing(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)  # not paid
    page = buyer_client.get(f"/spaces/{space.pk}/tickets/success/?session_id={session_id}")
    assert "waiting for confirmation" in page.content.decode()
    assert _ticket(space).state == Ticket.State.RESERVED
    page = buyer_client.get(f"/spaces/{space.pk}/tickets/success/?session_id=cs_test_made_up")
    assert _ticket(space).state == Ticket.State.RESERVED


def _cheap_session_for(fake_stripe, ticket: Ticket, amount: int, currency: str = "usd") -> str:
    """A session someone else made (with our metadata) at another price, then paid."""
    response = fake_stripe.api(
        "POST",
        "/v1/checkout/sessions",
        **{
            "mode": "payment",
            "success_url": "http://x/ok",
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": currency,
            "line_items[0][price_data][unit_amount]": str(amount),
            "line_items[0][price_data][product_data][name]": "Ticket",
            "metadata[ticket_id]": str(ticket.pk),
            "metadata[space_id]": str(ticket.space_id),
            "metadata[user_id]": str(ticket.buyer_id),
            "client_reference_id": str(ticket.pk),
        },
    )
    session_id = response.json()["id"]
    fake_stripe.pay(session_id)
    return session_id


@pytest.mark.parametrize("amount,currency", [(100, "usd"), (500, "eur")])
def test_a_session_at_another_price_grants_nothing(fake_stripe, space, buyer_client, press_buy, amount, currency):
    press_buy(buyer_client, space)
    ticket = _ticket(space)
    ticket.checkout_session_id = ""  # as if the crash-recovery path had not recorded it yet
    ticket.save()
    cheap = _cheap_session_for(fake_stripe, ticket, amount, currency)
    response = fake_stripe.deliver(fake_stripe.event("checkout.session.completed", cheap))
    assert response.status_code == 200  # accepted, recorded, not retried
    assert _ticket(space).state == Ticket.State.RESERVED
    assert "does not match" in WebhookEvent.objects.get().error


def test_a_session_for_another_ticket_grants_nothing(fake_stripe, space, buyer_client, press_buy):
    press_buy(buyer_client, space)
    cheap = _cheap_session_for(fake_stripe, _ticket(space), 500)  # right price, but not our session
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed", cheap))
    assert _ticket(space).state == Ticket.State.RESERVED


def test_a_payment_after_release_is_honoured_while_a_seat_is_free(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id)
    Ticket.objects.update(state=Ticket.State.EXPIRED)  # our clock released it before Stripe's word came
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed"))
    assert _ticket(space).state == Ticket.State.PAID


def test_a_paid_session_that_would_oversell_is_refunded(fake_stripe, make_space, alice, bob, make_user, press_buy):
    space = make_space(alice, capacity=1)
    late = Client()
    late.force_login(bob)
    session_id = press_buy(late, space)
    fake_stripe.pay(session_id)
    # bob's seat was released (our clock) and carol bought the last seat before bob's payment landed.
    Ticket.objects.update(state=Ticket.State.EXPIRED)
    carol = Client()
    carol.force_login(make_user("carol"))
    fake_stripe.pay(press_buy(carol, space))
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed", session_id))

    bobs = Ticket.objects.get(buyer=bob)
    assert bobs.state == Ticket.State.REFUNDED
    assert bobs.refund_reason == Ticket.RefundReason.OVERSOLD
    refunds = fake_stripe.api("GET", f"/v1/refunds?payment_intent={bobs.payment_intent_id}").json()["data"]
    assert [r["amount"] for r in refunds] == [500]
    assert Ticket.objects.filter(space=space, state__in=Ticket.ACTIVE_STATES).count() == 1


def test_the_periodic_job_releases_checkouts_past_their_time(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    Ticket.objects.update(reserved_until=Ticket.objects.get().created_at)
    assert services.release_expired_reservations() == 1
    assert _ticket(space).state == Ticket.State.EXPIRED
    assert seats_left(space) == 10
    status = fake_stripe.api("GET", f"/v1/checkout/sessions/{session_id}").json()["status"]
    assert status == "expired"


def test_the_periodic_job_keeps_a_checkout_that_was_paid_meanwhile(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id)
    Ticket.objects.update(reserved_until=Ticket.objects.get().created_at)
    assert services.release_expired_reservations() == 0
    assert _ticket(space).state == Ticket.State.PAID


def test_a_reservation_whose_checkout_was_never_created_is_let_go(fake_stripe, space, bob):
    ticket = services.reserve_seat(space, bob)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=ticket.created_at.replace(year=2020))
    assert services.release_expired_reservations() == 1
    assert seats_left(space) == 10


def test_expires_at_is_thirty_minutes_out(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    expires_at = fake_stripe.api("GET", f"/v1/checkout/sessions/{session_id}").json()["expires_at"]
    assert 30 * 60 <= expires_at - time.time() < 31 * 60
