"""A cancelled ticketed Space refunds every paid ticket exactly once, whatever happens to the worker."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import Client, RequestFactory

from payments import services
from payments import stripe as stripe_api
from payments.admin import TicketAdmin
from payments.models import Ticket
from payments.tasks import refund_cancelled_space
from rooms import services as rooms_services
from rooms.models import Notification, Space

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold_space(fake_stripe, space, make_user, press_buy) -> Space:
    """alice's Space with three paid tickets and one buyer still in checkout."""
    for handle in ("buyer1", "buyer2", "buyer3"):
        client = Client()
        client.force_login(make_user(handle))
        session_id = press_buy(client, space)
        fake_stripe.pay(session_id)
        fake_stripe.deliver(fake_stripe.event("checkout.session.completed", session_id))
    client = Client()
    client.force_login(make_user("dawdler"))
    press_buy(client, space)
    return space


def _refunds(fake_stripe, ticket: Ticket) -> list[dict]:
    return fake_stripe.api("GET", f"/v1/refunds?payment_intent={ticket.payment_intent_id}").json()["data"]


def _cancel(space: Space, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        rooms_services.cancel_space(space, space.host)


def test_cancelling_refunds_every_paid_ticket_and_tells_the_holders(
    fake_stripe, sold_space, django_capture_on_commit_callbacks
):
    _cancel(sold_space, django_capture_on_commit_callbacks)  # the task runs eagerly in tests
    tickets = Ticket.objects.filter(space=sold_space, paid_at__isnull=False)
    assert tickets.count() == 3
    for ticket in tickets:
        assert ticket.state == Ticket.State.REFUNDED
        assert ticket.refund_reason == Ticket.RefundReason.SPACE_CANCELLED
        assert [r["amount"] for r in _refunds(fake_stripe, ticket)] == [500]
    assert Ticket.objects.get(buyer__handle="dawdler").state == Ticket.State.EXPIRED
    told = Notification.objects.filter(kind=Notification.Kind.TICKET, space=sold_space)
    assert sorted(n.recipient.handle for n in told) == ["buyer1", "buyer2", "buyer3"]
    assert "refunded" in told.first().text
    assert services.sales_summary(sold_space).refunded_amount == 1500


def test_running_the_task_twice_refunds_once(fake_stripe, sold_space):
    Space.objects.filter(pk=sold_space.pk).update(state=Space.State.CANCELLED)
    refund_cancelled_space(sold_space.pk)
    refund_cancelled_space(sold_space.pk)
    refund_cancelled_space.delay(sold_space.pk)
    for ticket in Ticket.objects.filter(space=sold_space, paid_at__isnull=False):
        assert len(_refunds(fake_stripe, ticket)) == 1
    assert Notification.objects.filter(kind=Notification.Kind.TICKET).count() == 3


def test_a_worker_killed_after_stripe_refunded_does_not_refund_again(fake_stripe, sold_space, monkeypatch):
    """The worker dies between Stripe's answer and our commit; the redelivered task finishes the job."""
    Space.objects.filter(pk=sold_space.pk).update(state=Space.State.CANCELLED)
    real_create = stripe_api.create_refund
    calls = []

    def dies_after_the_second_refund(*args, **kwargs):
        refund = real_create(*args, **kwargs)
        calls.append(refund.id)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an Exception: nothing catches it, the transaction rolls back
        return refund

    monkeypatch.setattr(stripe_api, "create_refund", dies_after_the_second_refund)
    with pytest.raises(SystemExit):
        refund_cancelled_space(sold_space.pk)
    assert Ticket.objects.filter(state=Ticket.State.REFUNDED).count() == 1  # the second one never committed
    monkeypatch.setattr(stripe_api, "create_refund", real_create)

    refund_cancelled_space(sold_space.pk)
    for ticket in Ticket.objects.filter(space=sold_space, paid_at__isnull=False):
        assert ticket.state == Ticket.State.REFUNDED
        assert len(_refunds(fake_stripe, ticket)) == 1
        assert ticket.refund_id == _refunds(fake_stripe, ticket)[0]["id"]


def test_a_refund_already_made_in_stripe_is_adopted(fake_stripe, sold_space):
    # Past Stripe's 24 h idempotency memory, or refunded by hand in the dashboard.
    ticket = Ticket.objects.filter(state=Ticket.State.PAID).first()
    made = fake_stripe.api("POST", "/v1/refunds", payment_intent=ticket.payment_intent_id).json()
    services.refund_ticket(ticket, reason=Ticket.RefundReason.STAFF)
    ticket.refresh_from_db()
    assert (ticket.state, ticket.refund_id) == (Ticket.State.REFUNDED, made["id"])
    assert len(_refunds(fake_stripe, ticket)) == 1


def test_the_task_retries_while_stripe_is_down(fake_stripe, sold_space, settings):
    Space.objects.filter(pk=sold_space.pk).update(state=Space.State.CANCELLED)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    assert refund_cancelled_space.autoretry_for == (stripe_api.StripeUnavailable,)
    with pytest.raises(stripe_api.StripeUnavailable):
        refund_cancelled_space.run(sold_space.pk)
    assert Ticket.objects.filter(state=Ticket.State.REFUNDED).count() == 0


def test_a_payment_that_lands_after_the_cancel_is_refunded(fake_stripe, sold_space, django_capture_on_commit_callbacks):
    dawdler = Ticket.objects.get(buyer__handle="dawdler")
    fake_stripe.pay(dawdler.checkout_session_id)  # paid just before the cancel closed the checkout
    _cancel(sold_space, django_capture_on_commit_callbacks)
    dawdler.refresh_from_db()
    assert dawdler.state == Ticket.State.REFUNDED
    assert len(_refunds(fake_stripe, dawdler)) == 1


def test_staff_refund_a_ticket_from_the_admin(fake_stripe, sold_space, make_user):
    staff = make_user("staffer", is_staff=True, is_superuser=True)
    request = RequestFactory().post("/admin/payments/ticket/")
    request.user = staff
    request.session = {}
    request._messages = FallbackStorage(request)
    admin = TicketAdmin(Ticket, site)
    admin.refund(request, Ticket.objects.all())  # paid ones refunded, the reserved one refused with a message
    assert Ticket.objects.filter(state=Ticket.State.REFUNDED, refund_reason="staff").count() == 3
    assert Ticket.objects.filter(state=Ticket.State.RESERVED).count() == 1
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/payments/ticket/?state__exact=refunded").status_code == 200
    assert client.get("/admin/payments/webhookevent/").status_code == 200


@pytest.mark.redis
def test_the_refund_runs_on_a_real_worker(fake_stripe, sold_space, celery_worker):
    import time

    Space.objects.filter(pk=sold_space.pk).update(state=Space.State.CANCELLED)
    refund_cancelled_space.delay(sold_space.pk)
    refund_cancelled_space.delay(sold_space.pk)
    deadline = time.monotonic() + 20
    while Ticket.objects.filter(state=Ticket.State.REFUNDED).count() < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    for ticket in Ticket.objects.filter(space=sold_space, paid_at__isnull=False):
        assert ticket.state == Ticket.State.REFUNDED
        assert len(_refunds(fake_stripe, ticket)) == 1
