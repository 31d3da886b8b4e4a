"""The fake speaks Stripe's wire format to the real stripe library, and signs webhooks like Stripe."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
import stripe

from .conftest import API_KEY

SESSION = {
    "mode": "payment",
    "success_url": "http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
    "cancel_url": "http://shop.test/cancel",
    "line_items": [
        {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 700, "product_data": {"name": "Ticket"}}}
    ],
    "metadata": {"ticket_id": "1"},
}


@pytest.fixture
def client(fake_stripe) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake_stripe.url}, max_network_retries=0)


def test_it_creates_and_retrieves_a_checkout_session(client):
    created = client.v1.checkout.sessions.create(params=SESSION)
    fetched = client.v1.checkout.sessions.retrieve(created.id)
    assert fetched.id.startswith("cs_test_")
    assert (fetched.status, fetched.payment_status, fetched.amount_total) == ("open", "unpaid", 700)
    assert fetched.metadata.to_dict() == {"ticket_id": "1"}
    assert fetched.url.endswith(f"/c/pay/{created.id}")


def test_an_idempotency_key_replays_the_first_response(client):
    first = client.v1.checkout.sessions.create(params=SESSION, options={"idempotency_key": "k-1"})
    again = client.v1.checkout.sessions.create(params=SESSION, options={"idempotency_key": "k-1"})
    assert again.id == first.id
    other = {**SESSION, "metadata": {"ticket_id": "2"}}
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(params=other, options={"idempotency_key": "k-1"})


def test_it_refuses_a_wrong_or_live_key(fake_stripe):
    for key in ("sk_test_someone_else", "sk_live_x"):
        bad = stripe.StripeClient(key, base_addresses={"api": fake_stripe.url}, max_network_retries=0)
        with pytest.raises(stripe.AuthenticationError):
            bad.v1.checkout.sessions.create(params=SESSION)


def test_errors_have_stripes_shape(fake_stripe, client):
    response = fake_stripe.api("GET", "/v1/checkout/sessions/cs_test_nope")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "No such checkout.session: 'cs_test_nope'",
        "type": "invalid_request_error",
        "param": "id",
        "code": "resource_missing",
    }
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.checkout.sessions.create(params={**SESSION, "expires_at": int(time.time()) + 60})
    assert err.value.param == "expires_at"
    with pytest.raises(stripe.InvalidRequestError):  # a fee needs a destination (or a connected account)
        client.v1.checkout.sessions.create(params={**SESSION, "payment_intent_data": {"application_fee_amount": 9}})


def test_paying_creates_a_payment_intent_and_refunds_cannot_exceed_it(fake_stripe, client):
    session = client.v1.checkout.sessions.create(params=SESSION)
    fake_stripe.pay(session.id)
    paid = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (paid.status, paid.payment_status, paid.payment_intent.status) == ("complete", "paid", "succeeded")
    refund = client.v1.refunds.create(params={"payment_intent": paid.payment_intent.id})
    assert (refund.amount, refund.status) == (700, "succeeded")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create(params={"payment_intent": paid.payment_intent.id})
    assert err.value.code == "charge_already_refunded"
    types = [e["type"] for e in fake_stripe.events()]
    assert types == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
        "refund.created",
        "charge.refunded",
    ]


def test_expiring_closes_a_session_for_good(fake_stripe, client):
    session = client.v1.checkout.sessions.create(params=SESSION)
    assert client.v1.checkout.sessions.expire(session.id).status == "expired"
    with pytest.raises(requests.HTTPError):
        fake_stripe.pay(session.id)
    assert fake_stripe.event("checkout.session.expired", session.id)


def test_sessions_expire_by_themselves_at_expires_at(fake_stripe, client):
    session = client.v1.checkout.sessions.create(params={**SESSION, "expires_at": int(time.time()) + 1800})
    fake_stripe.advance_clock(1801)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_signed_events_verify_with_stripes_own_code(fake_stripe, client):
    session = client.v1.checkout.sessions.create(params=SESSION)
    fake_stripe.pay(session.id)
    payload, header = fake_stripe.signed(fake_stripe.event("checkout.session.completed"), secret="whsec_abc")
    event = stripe.Webhook.construct_event(payload, header, "whsec_abc")
    assert (event.type, event.data.object.id, event.livemode) == ("checkout.session.completed", session.id, False)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_other")


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers["Stripe-Signature"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_hosted_page_pays_delivers_signed_webhooks_and_redirects(fake_stripe, client):
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Receiver.received = []
        fake_stripe.add_endpoint(f"http://127.0.0.1:{server.server_port}/hook", secret="whsec_page")
        fake_stripe.auto_deliver(True)
        session = client.v1.checkout.sessions.create(params=SESSION)
        page = requests.get(session.url, timeout=5)
        assert "Pay (test mode)" in page.text and "TEST MODE" in page.text
        response = requests.post(session.url, data={"outcome": "paid"}, allow_redirects=False, timeout=5)
        assert response.status_code == 303
        assert response.headers["Location"] == f"http://shop.test/ok?session_id={session.id}"
        types = []
        for header, body in _Receiver.received:
            event = stripe.Webhook.construct_event(body.decode(), header, "whsec_page")
            types.append(event.type)
        assert "checkout.session.completed" in types
        assert json.loads(_Receiver.received[-1][1])["api_version"]
    finally:
        server.shutdown()


def test_latency_slows_matching_requests_and_a_change_releases_them(fake_stripe, client):
    import threading

    requests.post(fake_stripe.url + "/_fake/latency", data={"seconds": 30, "path": "/v1/checkout/sessions"})
    answered = []
    thread = threading.Thread(target=lambda: answered.append(client.v1.checkout.sessions.create(params=SESSION).id))
    thread.start()
    deadline = time.monotonic() + 5
    while requests.get(fake_stripe.url + "/_fake/latency").json()["waiting"] != 1:
        assert time.monotonic() < deadline, "the request never waited"
        time.sleep(0.05)
    assert answered == []
    client.v1.refunds.list(params={"limit": 1})  # other paths are not slowed
    requests.post(fake_stripe.url + "/_fake/latency", data={"seconds": 0})
    thread.join(timeout=5)
    assert answered and answered[0].startswith("cs_test_")


def test_a_second_request_with_a_key_still_in_flight_is_refused_with_409(fake_stripe, client):
    import threading

    requests.post(fake_stripe.url + "/_fake/latency", data={"seconds": 30, "method": "POST"})
    first = threading.Thread(
        target=lambda: client.v1.checkout.sessions.create(params=SESSION, options={"idempotency_key": "k-busy"})
    )
    first.start()
    deadline = time.monotonic() + 5
    while requests.get(fake_stripe.url + "/_fake/latency").json()["waiting"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    response = fake_stripe.http.post(
        fake_stripe.url + "/v1/checkout/sessions",
        data={"mode": "payment"},
        headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "k-busy"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "idempotency_error"
    requests.post(fake_stripe.url + "/_fake/latency", data={"seconds": 0})
    first.join(timeout=5)
