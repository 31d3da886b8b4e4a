"""A cancelled ticketed Space refunds every paid ticket exactly once, whatever happens to the worker."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import Client, RequestFactory

from jobs import outbox
from jobs.models import Job
from payments import services
from payments import stripe as stripe_api
from payments.admin import TicketAdmin
from payments.gate import TICKET_REQUIRED, ticket_refusal
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


def test_the_cancel_records_every_refund_and_its_job_in_its_own_transaction(
    fake_stripe, sold_space, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        rooms_services.cancel_space(sold_space, sold_space.host)  # nothing has been handed to Celery yet
    paid = Ticket.objects.filter(space=sold_space, state=Ticket.State.PAID)
    assert paid.count() == 3 and all(t.refund_pending for t in paid)
    assert {t.refund_reason for t in paid} == {Ticket.RefundReason.SPACE_CANCELLED}
    jobs = Job.objects.unfinished().filter(task__startswith="payments.")
    assert sorted(j.task for j in jobs) == ["payments.tasks.close_checkouts"] + ["payments.tasks.refund_ticket"] * 3
    assert all(not _refunds(fake_stripe, t) for t in paid)  # Stripe is called after the commit, by the jobs


def test_while_stripe_is_down_the_refund_waits_and_the_sweeper_finishes_it(
    fake_stripe, sold_space, settings, django_capture_on_commit_callbacks
):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    _cancel(sold_space, django_capture_on_commit_callbacks)
    pending = Ticket.objects.filter(space=sold_space, refund_requested_at__isnull=False)
    assert pending.count() == 3 and not pending.filter(state=Ticket.State.REFUNDED).exists()
    assert all("StripeUnavailable" in job.last_error for job in Job.objects.filter(task="payments.tasks.refund_ticket"))
    assert ticket_refusal(sold_space, pending.first().buyer) == TICKET_REQUIRED  # a decided refund ends the ticket

    settings.STRIPE_API_BASE = fake_stripe.url
    Job.objects.update(next_attempt_at=Job.objects.first().created_at)  # the lease ran out
    outbox.sweep()
    for ticket in Ticket.objects.filter(space=sold_space, paid_at__isnull=False):
        assert ticket.state == Ticket.State.REFUNDED
        assert len(_refunds(fake_stripe, ticket)) == 1
    assert not Job.objects.unfinished().exists()
    assert outbox.sweep() == 0


def test_staff_refund_ends_the_ticket_at_once(fake_stripe, sold_space):
    ticket = Ticket.objects.filter(state=Ticket.State.PAID).first()
    assert ticket_refusal(sold_space, ticket.buyer) is None
    services.staff_refund(ticket)
    ticket.refresh_from_db()
    assert (ticket.state, ticket.refund_reason) == (Ticket.State.REFUNDED, Ticket.RefundReason.STAFF)
    assert ticket_refusal(sold_space, ticket.buyer) == TICKET_REQUIRED
    assert Notification.objects.filter(recipient=ticket.buyer, kind=Notification.Kind.TICKET).exists()


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
