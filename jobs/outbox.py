"""The outbox: write a job with the change that needs it, hand it to Celery after commit, sweep up the rest.

Why: `transaction.on_commit(task.delay)` loses the task when the broker is down (the change committed, the
request fails, nothing runs) or when a worker dies before acknowledging it. Here the intent is a row in
the same transaction; handing it over can fail without harm, because the sweeper re-sends every job that
has not finished when its lease runs out, with a growing backoff, and gives up (loudly) after
SPACES_JOBS_MAX_ATTEMPTS. A job may therefore run more than once: every task run this way is idempotent.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Task, current_app
from celery.signals import task_failure, task_success
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from .models import Job

log = logging.getLogger(__name__)

# The Celery message header that names a task's outbox row.
HEADER = "spaces_job"
# After the broker refused one job, the others in this process wait this long for the sweeper instead
# of each paying for a failed connection inside the request that enqueued them.
BROKER_PAUSE = 5.0
_broker_down_until = 0.0
BROKER_ERRORS = (BrokerError, OSError)


def enqueue(task: Task | str, *args: Any) -> Job:
    """Record ``task(*args)`` in the current transaction; hand it to the broker once that commits.

    Never raises because the broker is unavailable: the job waits for the sweeper instead.
    """
    name = task if isinstance(task, str) else task.name
    now = timezone.now()
    job = Job.objects.create(task=name, args=list(args), created_at=now, next_attempt_at=now + lease(0))
    transaction.on_commit(lambda: send(job), robust=True)
    return job


def lease(attempts: int) -> timedelta:
    """How long a job handed over ``attempts`` times may run before the sweeper sends it again."""
    seconds = settings.SPACES_JOBS_RETRY_AFTER * 2 ** min(attempts, 16)
    return timedelta(seconds=min(seconds, settings.SPACES_JOBS_MAX_BACKOFF))


def send(job: Job) -> bool:
    """Hand one job to the broker. False when the broker could not take it (the job stays due)."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        _mark_undelivered(job, "broker unavailable (paused after an earlier failure)")
        return False
    task = _task(job.task)
    if task is None:
        log.error("job %s names an unknown task %r", job.pk, job.task)
        return False
    try:
        task.apply_async(args=job.args, headers={HEADER: job.pk}, retry=False)
    except Exception as exc:  # noqa: BLE001 - whatever the broker client raised, the job stays for the sweeper
        if current_app.conf.task_always_eager and not isinstance(exc, BROKER_ERRORS):
            # Eager mode (tests) runs the task right here and raises its failure: it was handed over.
            log.warning("job %s (%s) failed: %r", job.pk, job.task, exc)
            Job.objects.filter(pk=job.pk).update(last_error=repr(exc)[:1000])
        else:
            _broker_down_until = time.monotonic() + BROKER_PAUSE
            log.warning("broker unavailable: job %s (%s) waits for the sweeper: %r", job.pk, job.task, exc)
            _mark_undelivered(job, f"broker unavailable: {exc!r}")
            return False
    Job.objects.filter(pk=job.pk).update(dispatched_at=timezone.now(), attempts=F("attempts") + 1)
    return True


def _task(name: str) -> Task | None:
    if name not in current_app.tasks:
        # The web process imports task modules only when it needs them; "app.tasks.name" lives in "app.tasks".
        with contextlib.suppress(ImportError):
            importlib.import_module(name.rpartition(".")[0])
    return current_app.tasks.get(name)


def _mark_undelivered(job: Job, error: str) -> None:
    try:
        Job.objects.filter(pk=job.pk, finished_at__isnull=True).update(
            next_attempt_at=timezone.now(), last_error=error[:1000]
        )
    except Exception:  # noqa: BLE001 - the row keeps its lease; the sweeper finds it a little later
        log.exception("could not mark job %s as waiting", job.pk)


def sweep(limit: int = 500) -> int:
    """Hand over again every job whose lease ran out; give up on those past the attempt limit."""
    now = timezone.now()
    with transaction.atomic():
        due = list(Job.objects.due(now).select_for_update(skip_locked=True).order_by("next_attempt_at")[:limit])
        give_up = [job for job in due if job.attempts >= settings.SPACES_JOBS_MAX_ATTEMPTS]
        retry = [job for job in due if job.attempts < settings.SPACES_JOBS_MAX_ATTEMPTS]
        for job in give_up:
            log.error(
                "job %s %s%r given up after %s attempts: %s", job.pk, job.task, job.args, job.attempts, job.last_error
            )
        Job.objects.filter(pk__in=[job.pk for job in give_up]).update(failed_at=now)
        for job in retry:
            job.next_attempt_at = now + lease(job.attempts)
        Job.objects.bulk_update(retry, ["next_attempt_at"])
    if retry:
        log.info("sweeper: handing over %s unfinished job(s) again", len(retry))
    return sum(send(job) for job in retry)


def retry_now(jobs: list[Job]) -> int:
    """Staff: send these unfinished or failed jobs again at once, with a fresh attempt count."""
    ids = [job.pk for job in jobs if not job.finished_at]
    Job.objects.filter(pk__in=ids).update(failed_at=None, attempts=0, next_attempt_at=timezone.now())
    return sum(send(job) for job in Job.objects.filter(pk__in=ids))


@dataclass(frozen=True)
class Backlog:
    unfinished: int
    failed: int
    oldest_unfinished: datetime | None


def backlog() -> Backlog:
    """What an operator watches: jobs not done yet (and since when), and jobs given up on."""
    unfinished = Job.objects.unfinished()
    return Backlog(
        unfinished=unfinished.count(),
        failed=Job.objects.filter(failed_at__isnull=False).count(),
        oldest_unfinished=unfinished.aggregate(oldest=Min("created_at"))["oldest"],
    )


# --- Tasks mark their own row --------------------------------------------------------------------------


def _job_id(task: Task) -> int | None:
    request = task.request
    # A worker exposes custom headers on the request itself; eager mode keeps them in request.headers.
    value = (getattr(request, "headers", None) or {}).get(HEADER) or request.get(HEADER)
    return int(value) if value else None


def _on_success(sender: Task | None = None, **kwargs: Any) -> None:
    job_id = _job_id(sender) if sender else None
    if job_id:
        Job.objects.filter(pk=job_id, finished_at__isnull=True).update(
            finished_at=timezone.now(), failed_at=None, last_error=""
        )


def _on_failure(sender: Task | None = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    job_id = _job_id(sender) if sender else None
    if job_id:
        Job.objects.filter(pk=job_id, finished_at__isnull=True).update(last_error=repr(exception)[:1000])


def connect_signals() -> None:
    task_success.connect(_on_success, weak=False, dispatch_uid="jobs.finished")
    task_failure.connect(_on_failure, weak=False, dispatch_uid="jobs.failed")
