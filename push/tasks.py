"""Celery tasks of push: thin, run through the jobs outbox (push.enqueue)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import services


@shared_task
def send_push(user_ids: list[int], message: dict[str, Any]) -> dict[str, int]:
    """Push one message to these users' devices; safe to run twice (the tag replaces itself)."""
    return dict(services.send(user_ids, message))
