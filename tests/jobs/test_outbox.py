"""The outbox: a job is written with the change that needs it, handed over after commit, and handed over
again until it finishes; the broker being down never reaches the caller."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

import jobs
from jobs import outbox
from jobs.models import Job
from rooms.models import Space
from tests.jobs.procs import celery_broker
from tests.servers import free_port

pytestmark = pytest.mark.django_db

TASK = "rooms.tasks.end_overlong_spaces"  # a real task with no arguments


def overlong(host) -> Space:
    return Space.objects.create(
        host=host, title="Marathon", state="live", started_at=timezone.now() - timedelta(hours=13)
    )


@pytest.fixture(autouse=True)
def _no_broker_pause(monkeypatch):
    monkeypatch.setattr(outbox, "_broker_down_until", 0.0)


def test_a_job_runs_once_its_transaction_commits_and_is_marked_finished(
    alice, broadcasts, django_capture_on_commit_callbacks
):
    space = overlong(alice)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            job = jobs.enqueue(TASK)
            assert Job.objects.get(pk=job.pk).state == "pending"
            assert Space.objects.get(pk=space.pk).is_live  # nothing runs inside the transaction
    job.refresh_from_db()
    assert job.state == "finished" and job.attempts == 1 and job.dispatched_at is not None
    assert Space.objects.get(pk=space.pk).state == "ended"


def test_a_rolled_back_transaction_leaves_no_job(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            jobs.enqueue(TASK)
            raise RuntimeError("the request failed later")
    assert callbacks == [] and not Job.objects.exists()


def test_arguments_must_be_json(alice):
    with pytest.raises(TypeError):
        jobs.enqueue(TASK, object())


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_enqueue_never_raises_and_the_job_waits(alice):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with celery_broker(dead):
        job = jobs.enqueue(TASK)  # autocommit: handed over at once, and refused
        again = jobs.enqueue(TASK)  # the next one doesn't even try: the broker just failed
    for row in Job.objects.filter(pk__in=[job.pk, again.pk]):
        assert row.state == "pending" and row.attempts == 0
        assert row.last_error.startswith("broker unavailable")
        assert row.next_attempt_at <= timezone.now()  # due for the next sweep
    assert list(Job.objects.due()) == list(Job.objects.order_by("pk"))


def test_the_sweeper_hands_over_due_jobs_and_leaves_the_others(alice, broadcasts):
    space = overlong(alice)
    due = Job.objects.create(task=TASK, next_attempt_at=timezone.now() - timedelta(seconds=1))
    leased = Job.objects.create(task=TASK, next_attempt_at=timezone.now() + timedelta(minutes=1), attempts=1)
    done = Job.objects.create(task=TASK, next_attempt_at=timezone.now(), finished_at=timezone.now())
    assert outbox.sweep() == 1
    due.refresh_from_db()
    leased.refresh_from_db()
    assert due.state == "finished" and Space.objects.get(pk=space.pk).state == "ended"
    assert leased.state == "pending" and leased.attempts == 1
    assert Job.objects.get(pk=done.pk).attempts == 0
    assert outbox.sweep() == 0


def test_a_failing_job_backs_off_and_is_given_up_after_the_limit(settings):
    settings.SPACES_JOBS_MAX_ATTEMPTS = 3
    job = Job.objects.create(task="payments.tasks.refund_ticket", args=[987654], next_attempt_at=timezone.now())
    leases = []
    for _ in range(3):
        Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
        before = timezone.now()
        outbox.sweep()
        job.refresh_from_db()
        leases.append(round((job.next_attempt_at - before).total_seconds()))
        assert job.state == "dispatched" and "DoesNotExist" in job.last_error
    assert leases == [120, 240, 480]  # SPACES_JOBS_RETRY_AFTER, doubling
    Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
    assert outbox.sweep() == 0
    job.refresh_from_db()
    assert job.state == "failed" and job.attempts == 3
    assert outbox.backlog().failed == 1 and outbox.backlog().unfinished == 0


def test_staff_can_run_a_failed_job_again_from_the_admin(make_user, client, alice, broadcasts):
    client.force_login(make_user("staffer", is_staff=True, is_superuser=True))
    admin_client = client
    space = overlong(alice)
    job = Job.objects.create(task=TASK, attempts=20, failed_at=timezone.now(), last_error="boom")
    response = admin_client.post("/admin/jobs/job/", {"action": "retry", "_selected_action": [job.pk]}, follow=True)
    assert "Handed 1 job(s) to the workers." in response.content.decode()
    job.refresh_from_db()
    assert job.state == "finished" and Space.objects.get(pk=space.pk).state == "ended"
    assert admin_client.get("/admin/jobs/job/?failed_at__isempty=0").status_code == 200


def test_backlog_says_how_much_waits_and_since_when(alice):
    assert outbox.backlog().unfinished == 0 and outbox.backlog().oldest_unfinished is None
    old = Job.objects.create(task=TASK, created_at=timezone.now() - timedelta(minutes=5))
    Job.objects.create(task=TASK)
    backlog = outbox.backlog()
    assert backlog.unfinished == 2 and backlog.oldest_unfinished == old.created_at
