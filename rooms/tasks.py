"""Celery tasks: notification fan-out and the periodic jobs (named in settings.CELERY_BEAT_SCHEDULE).

Tasks are thin: they load what they need and call rooms.notifications or rooms.services, where the
rules live. The notification tasks run through the outbox (jobs.enqueue), which retries them until they
finish; every task is safe to run twice (acks_late redelivers a task whose worker died).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import notifications, services
from .models import Space

logger = logging.getLogger(__name__)


@shared_task
def fan_out_notifications(space_id: int, kind: str) -> int:
    """Split the recipients of one event into batches, one `deliver_notifications` job each."""
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return 0
    return notifications.enqueue_batches(space, kind)


@shared_task
def deliver_notifications(space_id: int, kind: str, recipient_ids: list[int]) -> int:
    """Notify one batch (in-app and e-mail); idempotent, so a retry or a duplicate sends nothing twice."""
    return notifications.deliver(space_id, kind, recipient_ids)


@shared_task
def end_overlong_spaces() -> int:
    """End every Space that has been live longer than SPACES_MAX_DURATION."""
    cutoff = timezone.now() - settings.SPACES_MAX_DURATION
    ended = 0
    for space in Space.objects.live().filter(started_at__lt=cutoff).order_by("started_at"):
        try:
            services.end_overlong_space(space)
        except services.RoomError:  # its host ended it meanwhile
            continue
        ended += 1
    if ended:
        logger.info("ended %s Space(s) that reached the maximum duration", ended)
    return ended


@shared_task
def cancel_no_show_spaces() -> int:
    """Cancel every scheduled Space its host has not started SPACES_NO_SHOW_GRACE after its time."""
    cutoff = timezone.now() - settings.SPACES_NO_SHOW_GRACE
    cancelled = 0
    for space in Space.objects.upcoming().filter(scheduled_for__lt=cutoff).order_by("scheduled_for"):
        try:
            services.cancel_no_show_space(space)
        except services.RoomError:  # its host started or cancelled it meanwhile
            continue
        cancelled += 1
    if cancelled:
        logger.info("cancelled %s Space(s) whose host did not show up", cancelled)
    return cancelled
