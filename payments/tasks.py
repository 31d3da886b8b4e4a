"""Celery tasks for payments. Each is idempotent: a retry, a duplicate or a rerun after a killed worker
changes nothing that was already done (refunds carry a per-ticket Idempotency-Key)."""

from __future__ import annotations

from celery import shared_task

from . import services
from .stripe import StripeUnavailable


@shared_task(
    bind=True,
    autoretry_for=(StripeUnavailable,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=12,
    acks_late=True,
    reject_on_worker_lost=True,
)
def refund_cancelled_space(self, space_id: int) -> int:
    """Refund every paid ticket of a cancelled Space and tell the holders."""
    return services.refund_cancelled_space(space_id)


@shared_task(ignore_result=True)
def release_expired_reservations() -> int:
    """Periodic (beat): free seats held by checkouts that ran out of time."""
    return services.release_expired_reservations()
