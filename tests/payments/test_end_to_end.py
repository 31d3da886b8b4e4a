"""The whole path over real HTTP: buy → Stripe's hosted page → signed webhook to a live server → ticket → entry."""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from live.access import entry_refusal
from payments.models import Ticket, WebhookEvent

from .conftest import WEBHOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)


def test_buy_pay_webhook_ticket_entry(fake_stripe, live_server, space, bob, buyer_client):
    fake_stripe.add_endpoint(live_server.url + WEBHOOK_PATH)
    fake_stripe.auto_deliver(True)

    response = buyer_client.post(f"/spaces/{space.pk}/tickets/buy/")
    assert response.status_code == 303
    checkout_url = response["Location"]
    page = requests.get(checkout_url, timeout=10)
    assert "5.00 USD" in page.text and "TEST MODE" in page.text

    # The buyer presses Pay; Stripe delivers the webhook to our server, then sends the browser back.
    paid = requests.post(checkout_url, data={"outcome": "paid"}, allow_redirects=False, timeout=30)
    assert paid.status_code == 303
    ticket = Ticket.objects.get(space=space, buyer=bob)
    assert ticket.state == Ticket.State.PAID
    assert WebhookEvent.objects.filter(type="checkout.session.completed", processed_at__isnull=False).exists()
    assert paid.headers["Location"].endswith(f"/tickets/success/?session_id={ticket.checkout_session_id}")

    success = buyer_client.get(paid.headers["Location"].replace("http://testserver", ""))
    assert "your ticket is confirmed" in success.content.decode()

    space.start()
    space.save()
    assert entry_refusal(space, bob) is None
    stranger = Client()
    assert "needs a ticket" in stranger.get(space.get_absolute_url()).content.decode()
