"""A cancelled ticketed Space: every paid ticket refunded, every open checkout closed, exactly once.

`on_space_cancelled` runs inside the cancel's own transaction (rooms sends `space_cancelled` there), so
the refund decisions and their jobs commit with the cancel or not at all; Stripe is called afterwards,
by the jobs.
"""

from __future__ import annotations

from django.db import transaction

import jobs
from rooms.models import Space

from ..models import Ticket
from . import refunds
from .errors import TicketError
from .fulfilment import abandon_checkout

CLOSE_CHECKOUTS_TASK = "payments.tasks.close_checkouts"


def on_space_cancelled(space: Space) -> None:
    """Record a refund (and its job) for every paid ticket, and a job to close open checkouts."""
    if not space.is_ticketed:
        return
    _request_refunds(space)
    jobs.enqueue(CLOSE_CHECKOUTS_TASK, space.pk)


def _request_refunds(space: Space) -> None:
    for ticket in Ticket.objects.select_for_update().filter(space=space, state=Ticket.State.PAID).order_by("pk"):
        refunds.request_locked(ticket, Ticket.RefundReason.SPACE_CANCELLED)


def close_checkouts(space_id: int) -> int:
    """Close the cancelled Space's open checkouts so nobody pays for it; a payment that slipped through is
    refunded by fulfilment (it sees the cancelled Space). Returns how many were closed."""
    closed = 0
    for ticket in Ticket.objects.filter(space_id=space_id, state=Ticket.State.RESERVED):
        closed += abandon_checkout(ticket).state == Ticket.State.EXPIRED
    return closed


def refund_cancelled_space(space_id: int) -> int:
    """Everything the cancel's jobs do, at once (staff tools, tests): safe to run again. Returns refunds made."""
    space = Space.objects.get(pk=space_id)
    if space.state != Space.State.CANCELLED:
        raise TicketError("Only a cancelled Space's tickets are refunded in bulk.")
    with transaction.atomic():
        _request_refunds(space)
    close_checkouts(space_id)
    done = [refunds.perform_refund(ticket_id) for ticket_id in refunds.pending_refunds(space_id=space_id)]
    return sum(ticket.state == Ticket.State.REFUNDED for ticket in done)
