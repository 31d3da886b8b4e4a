"""The host's side: making a Space ticketed, the price lock, the fee, and the sales page."""

from __future__ import annotations

import pytest
from django.test import Client

from payments.models import BoxOffice, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def host_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def _save(client: Client, space, price: str, capacity: int):
    return client.post(
        f"/spaces/{space.pk}/tickets/settings/", {"price": price, "capacity": capacity, "action": "save"}
    )


def _sell(fake_stripe, space, client: Client, press_buy) -> Ticket:
    session_id = press_buy(client, space)
    fake_stripe.pay(session_id)
    fake_stripe.deliver(fake_stripe.event("checkout.session.completed", session_id))
    return Ticket.objects.get(checkout_session_id=session_id)


def test_the_host_makes_a_scheduled_space_ticketed(fake_stripe, make_space, alice, host_client):
    space = make_space(alice, price=None)
    assert _save(host_client, space, "12.50", 40).status_code == 302
    space.refresh_from_db()
    office = BoxOffice.objects.get(space=space)
    assert (space.is_ticketed, office.price, office.currency, office.capacity) == (True, 1250, "usd", 40)


def test_making_it_free_removes_the_box_office(fake_stripe, space, host_client):
    response = host_client.post(f"/spaces/{space.pk}/tickets/settings/", {"action": "disable"})
    assert response.status_code == 302
    space.refresh_from_db()
    assert not space.is_ticketed and not BoxOffice.objects.filter(space=space).exists()
    assert host_client.get(f"/spaces/{space.pk}/tickets/").status_code == 302  # no box office to show


def test_the_database_refuses_a_box_office_without_a_price_or_seats(space):
    from django.db import IntegrityError, transaction

    for field, value in (("price", 0), ("capacity", 0), ("currency", "")):
        with pytest.raises(IntegrityError), transaction.atomic():
            BoxOffice.objects.filter(space=space).update(**{field: value})


@pytest.mark.parametrize("price", ["0.99", "999.01", "0"])
def test_the_price_stays_within_the_limits(fake_stripe, make_space, alice, host_client, price):
    space = make_space(alice, price=None)
    response = _save(host_client, space, price, 10)
    assert "The price must be between 1.00 USD and 999.00 USD" in response.content.decode()
    space.refresh_from_db()
    assert not space.is_ticketed


def test_only_the_host_sees_the_settings(fake_stripe, space, buyer_client):
    assert _save(buyer_client, space, "1.00", 10).status_code == 404
    assert buyer_client.get(f"/spaces/{space.pk}/tickets/sales/").status_code == 404


def test_without_a_stripe_key_the_host_is_told_why(space, host_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    page = host_client.get(f"/spaces/{space.pk}/tickets/settings/").content.decode()
    assert "Ticketed Spaces are switched off on this server" in page
    assert "STRIPE_SECRET_KEY" in page


def test_after_a_sale_the_price_is_fixed_and_capacity_can_only_grow(
    fake_stripe, space, host_client, buyer_client, press_buy
):
    _sell(fake_stripe, space, buyer_client, press_buy)
    assert "The price can" in _save(host_client, space, "9.00", 10).content.decode()
    assert "raise the number of tickets" in _save(host_client, space, "5.00", 5).content.decode()
    assert _save(host_client, space, "5.00", 20).status_code == 302
    office = BoxOffice.objects.get(space=space)
    assert (office.price, office.capacity) == (500, 20)
    response = host_client.post(f"/spaces/{space.pk}/tickets/settings/", {"action": "disable"})
    assert "stays ticketed" in response.content.decode()


def test_the_sales_page_shows_gross_fee_net_and_refunds(fake_stripe, space, host_client, make_user, press_buy):
    for handle in ("b1", "b2"):
        client = Client()
        client.force_login(make_user(handle))
        sold = _sell(fake_stripe, space, client, press_buy)
    from payments.services import refund_ticket

    refund_ticket(sold, reason=Ticket.RefundReason.STAFF)
    page = host_client.get(f"/spaces/{space.pk}/tickets/sales/").content.decode()
    assert "1 of 10" in page  # sold
    assert '<th scope="row">Remaining</th><td>9</td>' in page
    assert "5.00 USD" in page and "0.15 USD" in page and "4.85 USD" in page  # gross, fee, net
    assert "1 · 5.00 USD" in page  # refunds
    assert "Owed to you by the platform</th><td>4.85 USD" in page


def test_a_host_with_a_connected_account_gets_a_destination_charge(fake_stripe, space, alice, buyer_client, press_buy):
    alice.stripe_account_id = "acct_1AliceHost"
    alice.save()
    ticket = _sell(fake_stripe, space, buyer_client, press_buy)
    intent = fake_stripe.api("GET", f"/v1/payment_intents/{ticket.payment_intent_id}").json()
    assert intent["application_fee_amount"] == 15
    assert intent["transfer_data"] == {"destination": "acct_1AliceHost"}
    assert ticket.destination_account == "acct_1AliceHost"
    from payments.services import sales_summary

    assert sales_summary(space).owed_to_host == 0  # Stripe paid the host directly


def test_the_space_page_box_offers_a_ticket(fake_stripe, space):
    from django.contrib.auth.models import AnonymousUser
    from django.template import Context, Template

    html = Template('{% include "payments/_ticket_box.html" %}').render(
        Context({"space": space, "user": AnonymousUser()})
    )
    assert f"/spaces/{space.pk}/tickets/" in html and "5.00 USD" in html
