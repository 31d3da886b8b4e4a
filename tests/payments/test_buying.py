"""Pressing Buy: a seat held, a Checkout Session at the database's price, one ticket per buyer."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from payments.models import Ticket
from payments.services import seats_left

pytestmark = pytest.mark.django_db


def _session(fake_stripe, session_id: str) -> dict:
    return fake_stripe.api("GET", f"/v1/checkout/sessions/{session_id}?expand[]=payment_intent").json()


def test_buy_reserves_a_seat_and_redirects_to_checkout(fake_stripe, space, bob, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    ticket = Ticket.objects.get(space=space, buyer=bob)
    assert ticket.state == Ticket.State.RESERVED
    assert ticket.checkout_session_id == session_id
    assert (ticket.amount, ticket.fee_amount, ticket.net_amount) == (500, 15, 485)
    assert seats_left(space) == 9

    session = _session(fake_stripe, session_id)
    assert session["amount_total"] == 500 and session["currency"] == "usd" and session["mode"] == "payment"
    assert session["metadata"] == {"ticket_id": str(ticket.pk), "space_id": str(space.pk), "user_id": str(bob.pk)}
    assert session["client_reference_id"] == str(ticket.pk)
    assert 29 * 60 < session["expires_at"] - time.time() <= 31 * 60
    assert session["success_url"].endswith(f"/spaces/{space.pk}/tickets/success/?session_id={{CHECKOUT_SESSION_ID}}")


def test_the_price_comes_from_the_database_not_the_form(fake_stripe, space, buyer_client):
    response = buyer_client.post(
        f"/spaces/{space.pk}/tickets/buy/", {"price": "1", "amount": "1", "unit_amount": "1", "currency": "jpy"}
    )
    session_id = response["Location"].rsplit("/", 1)[-1]
    assert _session(fake_stripe, session_id)["amount_total"] == 500
    assert _session(fake_stripe, session_id)["currency"] == "usd"


def test_a_second_click_returns_to_the_same_checkout(fake_stripe, space, buyer_client, press_buy):
    assert press_buy(buyer_client, space) == press_buy(buyer_client, space)
    assert Ticket.objects.filter(space=space).count() == 1


def test_a_buyer_with_a_paid_ticket_cannot_buy_again(fake_stripe, space, buyer_client, press_buy):
    session_id = press_buy(buyer_client, space)
    fake_stripe.pay(session_id)
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed"))
    response = buyer_client.post(f"/spaces/{space.pk}/tickets/buy/", follow=True)
    assert "You already have a ticket" in response.content.decode()
    assert Ticket.objects.filter(space=space).count() == 1


def test_it_refuses_when_sold_out(fake_stripe, make_space, alice, make_user, press_buy):
    space = make_space(alice, capacity=1)
    first = Client()
    first.force_login(make_user("first"))
    press_buy(first, space)
    late = Client()
    late.force_login(make_user("late"))
    response = late.post(f"/spaces/{space.pk}/tickets/buy/", follow=True)
    assert "Sold out" in response.content.decode()
    assert Ticket.objects.filter(space=space).count() == 1


def test_the_host_does_not_buy_a_ticket(fake_stripe, space, alice):
    client = Client()
    client.force_login(alice)
    response = client.post(f"/spaces/{space.pk}/tickets/buy/", follow=True)
    assert "Hosts don" in response.content.decode()
    assert not Ticket.objects.exists()


def test_buying_needs_login_and_a_csrf_token(fake_stripe, space, bob):
    assert Client().post(f"/spaces/{space.pk}/tickets/buy/").status_code == 302  # to the login page
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert client.post(f"/spaces/{space.pk}/tickets/buy/").status_code == 403
    assert client.get(f"/spaces/{space.pk}/tickets/buy/").status_code == 405
    assert not Ticket.objects.exists()


def test_without_a_stripe_key_tickets_are_switched_off(space, buyer_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = buyer_client.get(f"/spaces/{space.pk}/tickets/")
    assert "Ticket sales are switched off" in response.content.decode()
    response = buyer_client.post(f"/spaces/{space.pk}/tickets/buy/", follow=True)
    assert "switched off" in response.content.decode()
    assert not Ticket.objects.exists()


def test_when_stripe_is_down_the_seat_is_given_back(fake_stripe, space, buyer_client, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    response = buyer_client.post(f"/spaces/{space.pk}/tickets/buy/", follow=True)
    assert "Payments are unavailable" in response.content.decode()
    assert Ticket.objects.get().state == Ticket.State.FAILED
    assert seats_left(space) == 10


def test_coming_back_from_checkout_changes_nothing_until_the_buyer_gives_up_the_seat(
    fake_stripe, space, buyer_client, press_buy
):
    session_id = press_buy(buyer_client, space)
    page = buyer_client.get(f"/spaces/{space.pk}/tickets/cancelled/").content.decode()
    assert "you were not charged" in page and "Give up my seat" in page
    assert f'action="/spaces/{space.pk}/tickets/release/"' in page
    assert Ticket.objects.get().state == Ticket.State.RESERVED  # a GET (a link, a prefetch) changes nothing
    assert _session(fake_stripe, session_id)["status"] == "open"

    response = buyer_client.post(f"/spaces/{space.pk}/tickets/release/", follow=True)
    assert "you were not charged" in response.content.decode()
    assert Ticket.objects.get().state == Ticket.State.EXPIRED
    assert _session(fake_stripe, session_id)["status"] == "expired"  # it can no longer be paid
    assert seats_left(space) == 10


def test_releasing_a_seat_needs_a_post_and_a_csrf_token(fake_stripe, space, bob, press_buy):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    buyer = Client()
    buyer.force_login(bob)
    press_buy(buyer, space)
    assert client.get(f"/spaces/{space.pk}/tickets/release/").status_code == 405
    assert client.post(f"/spaces/{space.pk}/tickets/release/").status_code == 403
    assert Ticket.objects.get().state == Ticket.State.RESERVED


def test_every_state_changing_payments_url_refuses_a_get(fake_stripe, space, buyer_client, press_buy):
    press_buy(buyer_client, space)
    for action in ("buy", "release"):
        assert buyer_client.get(f"/spaces/{space.pk}/tickets/{action}/").status_code == 405, action
    assert Client().get("/payments/stripe/webhook/").status_code == 405
    assert Ticket.objects.get().state == Ticket.State.RESERVED


def test_after_an_expired_checkout_the_buyer_can_start_again(fake_stripe, space, buyer_client, press_buy):
    first = press_buy(buyer_client, space)
    fake_stripe.expire(first)  # Stripe's expiry; its webhook has not arrived yet
    second = press_buy(buyer_client, space)
    assert second != first
    assert [t.state for t in Ticket.objects.order_by("pk")] == [Ticket.State.EXPIRED, Ticket.State.RESERVED]
    assert seats_left(space) == 9


def test_a_banned_hosts_space_sells_no_tickets(space, alice, buyer_client):
    from accounts.services import ban

    ban(alice)
    assert buyer_client.get(f"/spaces/{space.pk}/tickets/").status_code == 404
    assert buyer_client.post(f"/spaces/{space.pk}/tickets/buy/").status_code == 404
    assert not Ticket.objects.filter(space=space).exists()
