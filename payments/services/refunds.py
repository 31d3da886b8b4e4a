"""Refunds, never inside a row lock: decide and record (short transaction, with its job), commit, call
Stripe, then record Stripe's answer (short transaction).

The decision is ``Ticket.refund_requested_at`` plus ``refund_reason``, written together with a
``payments.tasks.refund_ticket`` job (jobs.enqueue), so a refund decided survives a dead broker or worker.
Every call to Stripe for one ticket carries the same Idempotency-Key: however often the job runs, the
buyer is refunded once.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

import jobs
from rooms.models import Notification

from .. import signals
from .. import stripe as stripe_api
from ..models import Ticket, TicketStateError
from .errors import TicketError
from .money import format_money

log = logging.getLogger(__name__)

REFUND_TASK = "payments.tasks.refund_ticket"


def request_refund(ticket: Ticket, *, reason: str) -> Ticket:
    """Decide to refund one paid ticket in full: recorded with its job in one short transaction."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        request_locked(ticket, reason)
    return ticket


def request_locked(ticket: Ticket, reason: str) -> bool:
    """The same, for a caller that holds ``ticket``'s row lock in its own transaction."""
    if not ticket.payment_intent_id:
        return False
    try:
        requested = ticket.request_refund(reason)
    except TicketStateError as exc:
        raise TicketError(str(exc)) from None
    if requested:
        ticket.save(update_fields=["refund_requested_at", "refund_reason"])
        jobs.enqueue(REFUND_TASK, ticket.pk)
        signals.ticket_refunded.send(sender=Ticket, ticket=ticket)
    return requested


def perform_refund(ticket_id: int) -> Ticket:
    """Make the requested refund at Stripe and record it. Safe to run any number of times, never in a lock."""
    ticket = Ticket.objects.get(pk=ticket_id)
    if not ticket.refund_pending or not ticket.payment_intent_id:
        return ticket
    try:
        refund = stripe_api.create_refund(
            ticket.payment_intent_id,
            idempotency_key=f"spaces-ticket-{ticket.pk}-refund",
            metadata={"ticket_id": str(ticket.pk), "space_id": str(ticket.space_id), "reason": ticket.refund_reason},
            destination_charge=bool(ticket.destination_account),
        )
    except stripe_api.StripeRefused as exc:
        if exc.code != "charge_already_refunded":
            raise
        # Refunded already (an earlier run past Stripe's 24 h key memory, or by hand in Stripe).
        refund = _existing_refund(ticket.payment_intent_id)
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().select_related("space").get(pk=ticket_id)
        if ticket.state != Ticket.State.REFUNDED:
            amount = refund.amount if refund.status != "failed" else 0
            ticket.mark_refunded(refund.id, amount, ticket.refund_reason)
            ticket.save()
            _notify_refunded(ticket)
    return ticket


def refund_ticket(ticket: Ticket, *, reason: str) -> Ticket:
    """Request a refund and make it now (the admin wants the outcome); its job finds it done and stops."""
    ticket = request_refund(ticket, reason=reason)
    if ticket.state == Ticket.State.REFUNDED:
        return ticket
    return perform_refund(ticket.pk)


def pending_refunds(**filters: object) -> list[int]:
    return list(
        Ticket.objects.filter(refund_requested_at__isnull=False, **filters)
        .exclude(state=Ticket.State.REFUNDED)
        .values_list("pk", flat=True)
    )


def _live_refunds(payment_intent_id: str) -> list[stripe_api.Refund]:
    """The payment's refunds that moved (or are moving) money: failed and cancelled ones don't count."""
    return [r for r in stripe_api.list_refunds(payment_intent_id) if r.status in ("succeeded", "pending")]


def _existing_refund(payment_intent_id: str) -> stripe_api.Refund:
    refunds = _live_refunds(payment_intent_id)
    if not refunds:
        raise stripe_api.StripeUnavailable(f"{payment_intent_id} says refunded but lists no refund")
    return stripe_api.Refund(
        id=refunds[0].id, amount=sum(r.amount for r in refunds), status="succeeded", payment_intent_id=payment_intent_id
    )


def sync_refunds(payment_intent_id: str) -> Ticket | None:
    """Record refunds made outside our job (Stripe dashboard, or our own refund's event arriving first)."""
    ticket = Ticket.objects.filter(payment_intent_id=payment_intent_id).first()
    if ticket is None:
        ticket_id = stripe_api.payment_intent_metadata(payment_intent_id).get("ticket_id", "")
        ticket = Ticket.objects.filter(pk=ticket_id).first() if ticket_id.isdigit() else None
    if ticket is None:
        return None
    refunds = _live_refunds(payment_intent_id)
    total = sum(r.amount for r in refunds)
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().select_related("space").get(pk=ticket.pk)
        ticket.payment_intent_id = payment_intent_id
        if refunds and total >= ticket.amount and ticket.state != Ticket.State.REFUNDED:
            if ticket.state in (Ticket.State.RESERVED, Ticket.State.PENDING, Ticket.State.PAID):
                ticket.paid_at = ticket.paid_at or timezone.now()
            # Our own refund keeps the reason we decided on; one made in Stripe is Stripe's.
            reason = ticket.refund_reason if ticket.refund_requested_at else Ticket.RefundReason.STRIPE
            ticket.mark_refunded(refunds[0].id, total, reason)
            ticket.save()
            _notify_refunded(ticket)
            signals.ticket_refunded.send(sender=Ticket, ticket=ticket)
        elif ticket.state != Ticket.State.REFUNDED:
            ticket.refunded_amount = min(total, ticket.amount)
            ticket.save()
    return ticket


def staff_refund(ticket: Ticket) -> Ticket:
    if ticket.state != Ticket.State.PAID:
        raise TicketError(f"Only a paid ticket can be refunded (this one is {ticket.get_state_display().lower()}).")
    return refund_ticket(ticket, reason=Ticket.RefundReason.STAFF)


def _notify_refunded(ticket: Ticket) -> None:
    # One notification per buyer and Space (the unique constraint makes a rerun a no-op).
    amount = format_money(ticket.refunded_amount, ticket.currency)
    text = f"Your ticket to “{ticket.space.title}” was refunded: {amount}."
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=ticket.buyer_id, kind=Notification.Kind.TICKET, space_id=ticket.space_id, text=text[:200]
            )
        ],
        ignore_conflicts=True,
    )
