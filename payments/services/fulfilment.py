"""Bringing a ticket in line with what Stripe says about its Checkout Session.

The order is always: ask Stripe (no transaction open), apply the answer in one short transaction that
locks the box office and the ticket, commit, and only then refund if the payment can't be honoured.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rooms.models import Space

from .. import stripe as stripe_api
from ..models import BoxOffice, Ticket
from . import refunds
from .box_office import release_seat, seats_taken
from .errors import FulfilmentMismatch

log = logging.getLogger(__name__)

# A reservation whose Checkout Session never got created (process died mid-way) is let go after this.
ORPHAN_RESERVATION_AGE = timedelta(minutes=5)


def fulfil_session(session_id: str) -> Ticket | None:
    """Bring the ticket in line with what Stripe says about ``session_id``: webhook and success page alike."""
    return settle(stripe_api.retrieve_checkout_session(session_id))


def refresh_from_stripe(session_id: str) -> Ticket | None:
    """The success page's read-through of Stripe's word, the same rule as the webhook's; a refund it calls
    for is left to its job, so a GET never makes one."""
    return apply_session(stripe_api.retrieve_checkout_session(session_id))


def settle(session: stripe_api.CheckoutSession) -> Ticket | None:
    """Apply ``session``; then, with every lock released, make the refund it may have called for."""
    ticket = apply_session(session)
    if ticket is not None and ticket.refund_pending:
        ticket = refunds.perform_refund(ticket.pk)
    return ticket


def _check_matches(ticket: Ticket, session: stripe_api.CheckoutSession) -> None:
    # The session must be the one we created for this ticket, at the price we stored.
    expected = {"ticket_id": str(ticket.pk), "space_id": str(ticket.space_id), "user_id": str(ticket.buyer_id)}
    problems = []
    if ticket.checkout_session_id not in ("", session.id):
        problems.append("session id")
    if session.amount_total != ticket.amount:
        problems.append(f"amount {session.amount_total} != {ticket.amount}")
    if session.currency != ticket.currency:
        problems.append(f"currency {session.currency} != {ticket.currency}")
    if any(session.metadata.get(k) != v for k, v in expected.items()):
        problems.append("metadata")
    if session.client_reference_id != str(ticket.pk):
        problems.append("client_reference_id")
    if problems:
        raise FulfilmentMismatch(f"session {session.id} does not match ticket {ticket.pk}: {', '.join(problems)}")


def apply_session(session: stripe_api.CheckoutSession) -> Ticket | None:
    """Record what ``session`` says, in one short transaction; a refund it needs is only requested here."""
    ticket_id = session.metadata.get("ticket_id", "")
    if not ticket_id.isdigit():
        raise FulfilmentMismatch(f"session {session.id} names no ticket")
    with transaction.atomic():
        space_id = Ticket.objects.filter(pk=ticket_id).values_list("space_id", flat=True).first()
        if space_id is None:
            raise FulfilmentMismatch(f"session {session.id} names unknown ticket {ticket_id}")
        # Same lock order as reserve_seat (box office, then ticket) so the capacity count is exact.
        office = BoxOffice.objects.select_for_update().filter(space_id=space_id).first()
        ticket = Ticket.objects.select_for_update().select_related("space").get(pk=ticket_id)
        _check_matches(ticket, session)
        if not ticket.checkout_session_id:
            ticket.checkout_session_id = session.id
        refund_reason = None
        if session.is_paid:
            refund_reason = _apply_payment(ticket, office, session)
        elif session.status == "complete":
            if session.payment_intent_status in ("requires_payment_method", "canceled"):
                if ticket.state in (Ticket.State.RESERVED, Ticket.State.PENDING):
                    ticket.release(Ticket.State.FAILED)
            elif ticket.state == Ticket.State.RESERVED:
                ticket.mark_pending()  # a delayed payment method: the seat stays held until it settles
            ticket.payment_intent_id = session.payment_intent_id or ticket.payment_intent_id
        elif session.status == "expired" and ticket.state == Ticket.State.RESERVED:
            ticket.release(Ticket.State.EXPIRED)
        ticket.save()
        if refund_reason:
            refunds.request_locked(ticket, refund_reason)
    return ticket


def _apply_payment(ticket: Ticket, office: BoxOffice | None, session: stripe_api.CheckoutSession) -> str | None:
    """Record money received; return a refund reason when the ticket can't be honoured."""
    if ticket.state in (Ticket.State.PAID, Ticket.State.REFUNDED):
        return None  # already done: a duplicate or late event
    space = ticket.space
    if ticket.state in (Ticket.State.EXPIRED, Ticket.State.FAILED):
        # Its seat was released before the money arrived. Honour it only if a seat is still free.
        other = Ticket.objects.filter(space=space, buyer=ticket.buyer_id, state__in=Ticket.ACTIVE_STATES)
        capacity = office.capacity if office else 0
        if space.is_over or other.exists() or seats_taken(space) >= capacity:
            ticket.payment_intent_id = session.payment_intent_id or ""
            ticket.paid_at = timezone.now()
            return Ticket.RefundReason.OVERSOLD
    ticket.mark_paid(session.payment_intent_id or "")
    if space.state == Space.State.CANCELLED:
        return Ticket.RefundReason.SPACE_CANCELLED  # paid while the host was cancelling
    return None


def abandon_checkout(ticket: Ticket) -> Ticket:
    """The buyer left checkout: close the session at Stripe so it can't be paid, then free the seat."""
    if ticket.state != Ticket.State.RESERVED:
        return ticket
    if ticket.checkout_session_id:
        return settle(stripe_api.expire_checkout_session(ticket.checkout_session_id)) or ticket
    release_seat(ticket.pk, Ticket.State.EXPIRED)
    ticket.refresh_from_db()
    return ticket


def release_expired_reservations() -> int:
    """Free seats whose checkout outlived its expiry (Stripe's expired webhook normally does this first)."""
    now = timezone.now()
    stale = Ticket.objects.filter(state=Ticket.State.RESERVED).filter(
        Q(reserved_until__lt=now) | Q(checkout_session_id="", created_at__lt=now - ORPHAN_RESERVATION_AGE)
    )
    released = 0
    for ticket in stale:
        try:
            ticket = abandon_checkout(ticket)
        except stripe_api.StripeUnavailable:
            log.warning("could not expire checkout for ticket %s; will try again", ticket.pk)
            continue
        released += ticket.state == Ticket.State.EXPIRED
    return released
