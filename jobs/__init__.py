"""Durable side effects: a transactional outbox in front of Celery.

`jobs.enqueue(task, *args)` writes a row in the caller's transaction and hands the task to the broker once
that transaction commits. When the broker is down, or a worker dies, the row stays unfinished and the
sweeper (`jobs.tasks.sweep`, run by beat) hands it over again. Tasks run this way must be idempotent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Task

    from .models import Job


def enqueue(task: Task | str, *args: Any) -> Job:
    """Run ``task(*args)`` once the current transaction commits, and until it has run (see jobs.outbox)."""
    from .outbox import enqueue as outbox_enqueue  # models can't load while the app registry starts

    return outbox_enqueue(task, *args)
