"""Celery tasks for payments, run through the outbox (jobs.enqueue). Each is idempotent: a retry, a
duplicate or a rerun after a killed worker changes nothing already done (refunds carry a per-ticket
Idempotency-Key, and a recorded refund is never made again)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def refund_ticket(ticket_id: int) -> str:
    """Make one requested refund at Stripe and record it (the buyer is told in the app)."""
    return services.perform_refund(ticket_id).state


@shared_task
def close_checkouts(space_id: int) -> int:
    """Close a cancelled Space's open checkouts so nobody can pay for it."""
    return services.close_checkouts(space_id)


@shared_task
def refund_cancelled_space(space_id: int) -> int:
    """Refund every paid ticket of a cancelled Space at once (staff tools; the cancel's jobs do the same)."""
    return services.refund_cancelled_space(space_id)


@shared_task(ignore_result=True)
def release_expired_reservations() -> int:
    """Periodic (beat): free seats held by checkouts that ran out of time."""
    return services.release_expired_reservations()
