"""Pressing Buy: hold a seat, then open (or return to) its Stripe Checkout Session."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from accounts.models import User
from rooms.models import Space

from .. import stripe as stripe_api
from ..models import Ticket
from .box_office import CHECKOUT_EXPIRY_SLACK, CHECKOUT_LIFETIME, release_seat, reserve_seat, ticketing_enabled
from .errors import TicketError
from .fulfilment import settle

log = logging.getLogger(__name__)


def start_checkout(space: Space, user: User, *, success_url: str, cancel_url: str) -> str:
    """The Checkout URL for ``user``'s ticket: a new reservation, or the one they already have open."""
    if not ticketing_enabled():
        raise TicketError("Ticketed Spaces are switched off on this server.")
    existing = Ticket.objects.filter(space=space, buyer=user, state__in=Ticket.ACTIVE_STATES).first()
    if existing and existing.state == Ticket.State.RESERVED and existing.checkout_session_id:
        # A second click (or a second tab) returns to the same checkout rather than buying twice.
        session = stripe_api.retrieve_checkout_session(existing.checkout_session_id)
        if session.status == "open" and session.url:
            return session.url
        existing = settle(session) or existing
        if existing.holds_seat:
            raise TicketError("You already have a ticket to this Space.")
    elif existing and existing.state == Ticket.State.RESERVED:
        # Its Checkout Session was never recorded (a crash mid-way): create it again, same key.
        return _open_checkout(existing, success_url=success_url, cancel_url=cancel_url)
    elif existing:
        raise TicketError("You already have a ticket to this Space.")
    ticket = reserve_seat(space, user)
    return _open_checkout(ticket, success_url=success_url, cancel_url=cancel_url)


def _open_checkout(ticket: Ticket, *, success_url: str, cancel_url: str) -> str:
    space = ticket.space
    metadata = {"ticket_id": str(ticket.pk), "space_id": str(space.pk), "user_id": str(ticket.buyer_id)}
    expires_at = ticket.created_at + CHECKOUT_LIFETIME + CHECKOUT_EXPIRY_SLACK
    try:
        session = stripe_api.create_checkout_session(
            amount=ticket.amount,
            currency=ticket.currency,
            product_name=f"Ticket: {space.title}"[:250],
            success_url=success_url,
            cancel_url=cancel_url,
            client_reference_id=str(ticket.pk),
            metadata=metadata,
            expires_at=max(int(expires_at.timestamp()), int(time.time() + CHECKOUT_LIFETIME.total_seconds())),
            # One ticket, one session: a retried request gets the same session back from Stripe.
            idempotency_key=f"spaces-ticket-{ticket.pk}-checkout",
            customer_email=ticket.buyer.email or None,
            destination_account=ticket.destination_account or None,
            application_fee_amount=ticket.fee_amount,
        )
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
        log.warning("checkout for ticket %s failed: %s", ticket.pk, exc)
        release_seat(ticket.pk, Ticket.State.FAILED)
        raise TicketError("Payments are unavailable right now. Please try again in a minute.") from exc
    Ticket.objects.filter(pk=ticket.pk).update(
        checkout_session_id=session.id,
        checkout_url=session.url or "",
        reserved_until=datetime.fromtimestamp(session.expires_at, tz=UTC),
    )
    return session.url or success_url
