"""The sweeper, run by beat every SPACES_JOBS_SWEEP_SECONDS."""

from __future__ import annotations

from celery import shared_task

from . import outbox


@shared_task(ignore_result=True)
def sweep() -> int:
    """Hand over again every job that has not finished in time (broker was down, worker died)."""
    return outbox.sweep()
