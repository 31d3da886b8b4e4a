"""Celery tasks: finalising a replay, its AAC copy, clips' AAC copies, deleting files, and retention.

Run through the outbox (jobs.enqueue) except the periodic `expire_recordings` (beat). Each is safe to run
twice. Finalising and encoding may outlast the default limits (a 12-hour Space encodes in about 9 minutes
on one core): they carry their own.
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import finalise as finalising
from . import services
from .storage import recordings_storage

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=1200, time_limit=1260)
def finalise(recording_id: int) -> str:
    """Join an ended Space's segments into its replay (recordings.finalise)."""
    return finalising.finalise(recording_id)


@shared_task(soft_time_limit=1200, time_limit=1260)
def make_m4a(recording_id: int) -> str:
    return finalising.make_m4a(recording_id)


@shared_task
def make_clip_m4a(clip_id: int) -> str:
    return finalising.make_clip_m4a(clip_id)


@shared_task
def purge_files(names: list[str]) -> int:
    """Delete files of removed recordings (or of segments already joined) from the storage."""
    storage = recordings_storage()
    for name in names:
        storage.delete(name)  # a name already gone is no error on either storage
    return len(names)


@shared_task
def expire_recordings() -> int:
    """Remove replays older than SPACES_RECORDING_RETENTION_DAYS (beat, hourly)."""
    expired = services.expire()
    if expired:
        logger.info("removed %s recording(s) past the retention period", expired)
    return expired
