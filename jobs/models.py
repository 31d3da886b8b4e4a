from __future__ import annotations

from django.db import models
from django.utils import timezone


class JobQuerySet(models.QuerySet):
    def unfinished(self) -> JobQuerySet:
        return self.filter(finished_at__isnull=True, failed_at__isnull=True)

    def due(self, now=None) -> JobQuerySet:
        """Unfinished jobs whose lease ran out (or whose hand-over failed): the sweeper sends them again."""
        return self.unfinished().filter(next_attempt_at__lte=now or timezone.now())


class Job(models.Model):
    """One side effect to run after a transaction commits: a Celery task and its JSON arguments.

    Written in the same transaction as the change that needs it, so the intent survives a broker outage
    or a dead worker; `finished_at` is set when the task succeeds, `failed_at` when the sweeper gives up.
    """

    task = models.CharField(max_length=200, help_text="Celery task name.")
    args = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text="Times handed to the broker.")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # When the sweeper may hand it over again: a lease while a worker has it, a backoff after a failure.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Given up after too many attempts.")
    last_error = models.TextField(blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(finished_at__isnull=True, failed_at__isnull=True),
                name="job_unfinished_due",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(finished_at__isnull=True) | models.Q(failed_at__isnull=True),
                name="job_finished_or_failed_not_both",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} ({self.state})"

    @property
    def state(self) -> str:
        if self.finished_at:
            return "finished"
        if self.failed_at:
            return "failed"
        return "dispatched" if self.dispatched_at else "pending"
