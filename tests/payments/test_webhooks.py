"""POST /payments/stripe/webhook/: signed, stored once, processed once, in any order."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from fakestripe import signature_header
from payments.models import Ticket, WebhookEvent
from payments.services import seats_left

from .conftest import WEBHOOK_PATH, WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_session(fake_stripe, space, buyer_client, press_buy) -> str:
    """bob has paid at Stripe; no webhook has reached the app yet."""
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id)
    return session_id


def _ticket(space) -> Ticket:
    return Ticket.objects.get(space=space)


def test_checkout_completed_marks_the_ticket_paid(fake_stripe, space, paid_session):
    response = fake_stripe.deliver(fake_stripe.event("checkout.session.completed", paid_session))
    assert response.status_code == 200
    ticket = _ticket(space)
    assert ticket.state == Ticket.State.PAID
    assert ticket.payment_intent_id.startswith("pi_test_")
    assert WebhookEvent.objects.get().processed_at is not None


def test_a_duplicate_event_answers_200_and_does_nothing(fake_stripe, space, paid_session):
    event = fake_stripe.event("checkout.session.completed", paid_session)
    assert fake_stripe.deliver(event).content == b"processed"
    paid_at = _ticket(space).paid_at
    again = fake_stripe.deliver(event)
    assert (again.status_code, again.content) == (200, b"duplicate")
    assert WebhookEvent.objects.count() == 1
    assert WebhookEvent.objects.get().attempts == 1
    assert _ticket(space).paid_at == paid_at


def test_events_out_of_order_end_in_the_right_state(fake_stripe, space, buyer_client, press_buy):
    # A delayed payment: completed (unpaid) → async succeeded, delivered the wrong way round, twice.
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id, outcome="async")
    completed = fake_stripe.event("checkout.session.completed", session_id)
    fake_stripe.settle(session_id, succeed=True)
    succeeded = fake_stripe.event("checkout.session.async_payment_succeeded", session_id)
    for event in (succeeded, completed, succeeded, completed):
        assert fake_stripe.deliver(event).status_code == 200
    assert _ticket(space).state == Ticket.State.PAID
    assert WebhookEvent.objects.count() == 2


def test_a_refund_event_before_the_checkout_event_still_ends_refunded(fake_stripe, space, paid_session):
    intent = fake_stripe.api("GET", f"/v1/checkout/sessions/{paid_session}").json()["payment_intent"]
    fake_stripe.api("POST", "/v1/refunds", payment_intent=intent)
    fake_stripe.deliver(fake_stripe.event("charge.refunded"))
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed", paid_session))
    ticket = _ticket(space)
    assert ticket.state == Ticket.State.REFUNDED
    assert ticket.refunded_amount == 500
    assert seats_left(space) == 10


def test_a_delayed_payment_holds_the_seat_until_it_fails(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id, outcome="async")
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed", session_id))
    assert _ticket(space).state == Ticket.State.PENDING
    assert seats_left(space) == 9
    fake_stripe.settle(session_id, succeed=False)
    fake_stripe.deliver(fake_stripe.event("checkout.session.async_payment_failed", session_id))
    assert _ticket(space).state == Ticket.State.FAILED
    assert seats_left(space) == 10


def test_an_expired_checkout_releases_the_seat(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    assert seats_left(space) == 9
    fake_stripe.advance_clock(31 * 60)  # Stripe expires it on its own at expires_at
    fake_stripe.deliver(fake_stripe.event("checkout.session.expired", session_id))
    assert _ticket(space).state == Ticket.State.EXPIRED
    assert seats_left(space) == 10


# -- the signature ------------------------------------------------------------------------------------
def _post(body: str, header: str):
    return Client().post(WEBHOOK_PATH, data=body, content_type="application/json", headers={"Stripe-Signature": header})


@pytest.mark.parametrize(
    "case",
    ["forged body", "wrong secret", "stale timestamp", "future timestamp", "no signature", "no v1 signature"],
)
def test_a_badly_signed_webhook_is_refused_and_nothing_is_written(fake_stripe, space, paid_session, case):
    event = fake_stripe.event("checkout.session.completed", paid_session)
    now = int(time.time())
    body, header = fake_stripe.signed(event)
    if case == "forged body":
        forged = json.loads(body)
        forged["id"] = "evt_forged"
        body = json.dumps(forged)
    elif case == "wrong secret":
        body, header = fake_stripe.signed(event, secret="whsec_attacker")
    elif case == "stale timestamp":
        body, header = fake_stripe.signed(event, timestamp=now - 301)
    elif case == "future timestamp":
        body, header = fake_stripe.signed(event, timestamp=now + 600)
    elif case == "no signature":
        header = ""
    elif case == "no v1 signature":
        header = f"t={now},v0={signature_header(body, WEBHOOK_SECRET, now).split('v1=')[1]}"
    response = _post(body, header)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert _ticket(space).state == Ticket.State.RESERVED


def test_a_signature_a_little_in_the_future_is_accepted(fake_stripe, space, paid_session):
    # Clocks drift: within the 300 s tolerance either way is fine.
    event = fake_stripe.event("checkout.session.completed", paid_session)
    assert fake_stripe.deliver(event, timestamp=int(time.time()) + 60).status_code == 200


def test_events_we_do_not_handle_are_stored_and_ignored(fake_stripe, space, paid_session):
    response = fake_stripe.deliver(fake_stripe.event("payment_intent.succeeded"))
    assert (response.status_code, response.content) == (200, b"ignored")
    assert WebhookEvent.objects.get().type == "payment_intent.succeeded"
    assert _ticket(space).state == Ticket.State.RESERVED


def test_when_stripe_is_unreachable_the_event_is_kept_for_redelivery(fake_stripe, space, paid_session, settings):
    event = fake_stripe.event("checkout.session.completed", paid_session)
    body, header = fake_stripe.signed(event)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    assert _post(body, header).status_code == 503
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is None and stored.error.startswith("retrying")
    settings.STRIPE_API_BASE = fake_stripe.url
    assert _post(body, header).status_code == 200  # Stripe's redelivery
    assert _ticket(space).state == Ticket.State.PAID


# -- signed, but not an event we can read -------------------------------------------------------------
def _signed_post(event) -> tuple[int, bytes]:
    body = json.dumps(event)
    response = _post(body, signature_header(body, WEBHOOK_SECRET))
    return response.status_code, response.content


def _completed(**changes) -> dict:
    event = {"id": "evt_malformed_1", "object": "event", "type": "checkout.session.completed", "data": {}}
    event.update(changes)
    return event


@pytest.mark.parametrize(
    "data",
    [{}, {"object": None}, {"object": "cs_test_123"}, {"object": ["x"]}, {"object": {}}, {"object": {"id": 7}}],
    ids=["no object", "null object", "string object", "list object", "no id", "id not a string"],
)
def test_a_signed_event_without_a_usable_object_is_refused_and_recorded(fake_stripe, space, paid_session, data):
    status, body = _signed_post(_completed(data=data))
    assert (status, body) == (400, b"malformed")
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is not None and stored.error.startswith("malformed")  # the operator sees it
    assert _signed_post(_completed(data=data)) == (200, b"duplicate")  # Stripe's retry changes nothing
    assert _ticket(space).state == Ticket.State.RESERVED


@pytest.mark.parametrize(
    "changes",
    [{"id": 12}, {"id": {"x": 1}}, {"id": ""}, {"type": None}, {"type": ["checkout.session.completed"]}],
    ids=["int id", "object id", "empty id", "null type", "list type"],
)
def test_a_signed_event_without_an_id_or_type_is_refused_and_nothing_is_written(fake_stripe, changes):
    status, _ = _signed_post(_completed(data={"object": {"id": "cs_test_1"}}, **changes))
    assert status == 400
    assert not WebhookEvent.objects.exists()


def test_a_refund_event_with_a_strange_payment_intent_is_refused(fake_stripe):
    event = {"id": "evt_refund_1", "type": "charge.refunded", "data": {"object": {"payment_intent": ["pi_1"]}}}
    assert _signed_post(event)[0] == 400
    assert WebhookEvent.objects.get().error.startswith("malformed")


def test_an_event_type_we_ignore_needs_no_object(fake_stripe):
    assert _signed_post({"id": "evt_other", "type": "customer.created", "data": {}}) == (200, b"ignored")


def test_a_signed_body_that_is_not_an_object_is_refused(fake_stripe):
    for body in ("[1, 2]", '"evt"', "null"):
        assert _post(body, signature_header(body, WEBHOOK_SECRET)).status_code == 400
    assert not WebhookEvent.objects.exists()


def test_no_transaction_is_open_while_the_webhook_asks_stripe(fake_stripe, space, paid_session, monkeypatch):
    """The handler fetches the session with no transaction (and so no row lock) open: a slow Stripe holds
    nothing up. Django's test transaction is the one atomic block allowed here."""
    from django.db import connection

    from payments import stripe as stripe_api

    real_retrieve = stripe_api.retrieve_checkout_session
    depth = []

    def retrieve(session_id):
        depth.append(len(connection.atomic_blocks))
        return real_retrieve(session_id)

    monkeypatch.setattr(stripe_api, "retrieve_checkout_session", retrieve)
    baseline = len(connection.atomic_blocks)
    assert fake_stripe.deliver(fake_stripe.event("checkout.session.completed", paid_session)).status_code == 200
    assert depth == [baseline]
    assert _ticket(space).state == Ticket.State.PAID
