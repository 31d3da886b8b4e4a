"""Arranging paid tickets for the fault tests: bought through the fake Stripe like a real buyer."""

from __future__ import annotations

from django.test import Client

from payments.models import Ticket


def sell(fake_stripe, space, make_user, press_buy, buyers: int, prefix: str = "buyer") -> list[Ticket]:
    """``buyers`` paid tickets to ``space``, each through Checkout and a signed webhook."""
    for i in range(buyers):
        client = Client()
        client.force_login(make_user(f"{prefix}{i}"))
        session_id = press_buy(client, space)
        fake_stripe.pay(session_id)
        response = fake_stripe.deliver(fake_stripe.event("checkout.session.completed", session_id))
        assert response.status_code == 200, response.content
    return list(Ticket.objects.filter(space=space, state=Ticket.State.PAID).order_by("pk"))


def refunds_at_stripe(fake_stripe, ticket: Ticket) -> list[dict]:
    return fake_stripe.api("GET", f"/v1/refunds?payment_intent={ticket.payment_intent_id}").json()["data"]
