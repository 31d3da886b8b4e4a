"""Telling people: followers when a host goes live, reminder holders when a Space starts or is cancelled.

The fan-out runs in batches, after commit, and sends nothing twice however often a task runs. The last
tests run it on a real Celery worker consuming from Redis.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from celery.signals import task_postrun
from django.core import mail
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from jobs.models import Job
from rooms import services, tasks
from rooms.models import Notification, Reminder, Space
from spaces_site.celery import app as celery_app

pytestmark = pytest.mark.django_db

Kind = Notification.Kind


def make_scheduled(host, title: str = "Talk") -> Space:
    return Space.objects.create(host=host, title=title, scheduled_for=timezone.now() + timedelta(hours=1))


def make_people(count: int, prefix: str = "fan", **extra) -> list[User]:
    """Many followers quickly (no password hashing); they never log in."""
    return User.objects.bulk_create(
        [
            User(handle=f"{prefix}{i}", username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", **extra)
            for i in range(count)
        ]
    )


def follow_all(people: list[User], host: User) -> None:
    for person in people:
        accounts.follow(person, host)


def notified(kind: str, space: Space) -> list[str]:
    return sorted(Notification.objects.filter(kind=kind, space=space).values_list("recipient__handle", flat=True))


def mailed() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


# --- Who is told (tasks run eagerly here) ---------------------------------------------------------


def test_going_live_tells_every_follower_in_app_and_by_email(
    alice, bob, carol, django_capture_on_commit_callbacks, mailoutbox
):
    follow_all([bob, carol], alice)
    with django_capture_on_commit_callbacks(execute=True):
        space = services.create_space(alice, title="Live now", start_now=True)
    assert notified(Kind.HOST_LIVE, space) == ["bob", "carol"]
    assert mailed() == ["bob@example.com", "carol@example.com"]
    message = mailoutbox[0]
    assert message.subject == "Alice Liddell (@alice) is live: Live now"
    assert f"http://127.0.0.1:8000/spaces/{space.pk}/" in message.body or "/spaces/" in message.body
    assert "Turn them off" in message.body and message.extra_headers["List-Unsubscribe"]
    note = Notification.objects.filter(space=space).first()
    assert note.actor == alice and note.read_at is None and note.emailed_at is not None


def test_people_who_opted_out_get_no_email_but_still_a_notification(
    alice, make_user, django_capture_on_commit_callbacks, mailoutbox
):
    quiet = make_user("quiet", email_notifications=False)
    accounts.follow(quiet, alice)
    with django_capture_on_commit_callbacks(execute=True):
        space = services.create_space(alice, title="Live", start_now=True)
    assert notified(Kind.HOST_LIVE, space) == ["quiet"]
    assert mailoutbox == []
    assert Notification.objects.get().emailed_at is None


def test_reminder_holders_are_told_when_it_starts_once_even_if_they_follow(
    alice, bob, carol, make_user, django_capture_on_commit_callbacks, mailoutbox
):
    dave = make_user("dave")
    follow_all([bob, carol], alice)
    space = make_scheduled(alice, "Scheduled talk")
    Reminder.objects.create(space=space, user=carol)  # a follower with a reminder
    Reminder.objects.create(space=space, user=dave)  # a stranger with a reminder
    with django_capture_on_commit_callbacks(execute=True):
        services.start_space(space, alice)
    assert notified(Kind.HOST_LIVE, space) == ["bob"]
    assert notified(Kind.REMINDER, space) == ["carol", "dave"]
    assert mailed() == ["bob@example.com", "carol@example.com", "dave@example.com"]
    assert any(m.subject == "It's starting: Scheduled talk, hosted by @alice" for m in mailoutbox)


def test_blocked_and_banned_followers_are_not_told(alice, bob, carol, make_user, django_capture_on_commit_callbacks):
    dave = make_user("dave")
    follow_all([bob, carol, dave], alice)
    space = make_scheduled(alice)
    Reminder.objects.create(space=space, user=bob)
    accounts.block(alice, bob)  # removes bob's follow; his reminder stays
    accounts.ban(carol)
    with django_capture_on_commit_callbacks(execute=True):
        services.start_space(space, alice)
    assert notified(Kind.HOST_LIVE, space) == ["dave"]
    assert notified(Kind.REMINDER, space) == []


def test_nothing_is_enqueued_before_the_transaction_commits(alice, bob, django_capture_on_commit_callbacks):
    accounts.follow(bob, alice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.create_space(alice, title="Live", start_now=True)
        assert not Notification.objects.exists()
    assert len(callbacks) == 2  # followers, reminder holders
    assert not Notification.objects.exists()


def test_a_rolled_back_start_tells_nobody(alice, bob, django_capture_on_commit_callbacks):
    from django.db import transaction

    accounts.follow(bob, alice)
    space = make_scheduled(alice)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.start_space(space, alice)
            raise RuntimeError("the request failed later")
    assert callbacks == [] and not Notification.objects.exists()
    assert Space.objects.get(pk=space.pk).is_scheduled


# --- Batches and idempotency ----------------------------------------------------------------------------


def test_fan_out_splits_followers_into_batches(settings, alice, django_capture_on_commit_callbacks):
    settings.SPACES_NOTIFY_BATCH_SIZE = 4
    follow_all(make_people(10), alice)
    space = Space.objects.create(host=alice, title="Big", state="live", started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False):
        assert tasks.fan_out_notifications(space.pk, Kind.HOST_LIVE) == 3
    batches = [job.args for job in Job.objects.filter(task="rooms.tasks.deliver_notifications").order_by("pk")]
    assert [len(ids) for _, _, ids in batches] == [4, 4, 2]
    assert len({i for _, _, ids in batches for i in ids}) == 10


def test_running_the_fan_out_twice_sends_nothing_twice(settings, alice, mailoutbox, django_capture_on_commit_callbacks):
    settings.SPACES_NOTIFY_BATCH_SIZE = 3
    follow_all(make_people(7), alice)
    space = Space.objects.create(host=alice, title="Big", state="live", started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        tasks.fan_out_notifications.delay(space.pk, Kind.HOST_LIVE)
        tasks.fan_out_notifications.delay(space.pk, Kind.HOST_LIVE)
    assert Notification.objects.filter(space=space).count() == 7
    assert len(mailoutbox) == 7 and len(set(mailed())) == 7


def test_a_failed_email_is_retried_without_repeating_the_ones_sent(settings, alice, mailoutbox, monkeypatch):
    follow_all(make_people(5), alice)
    space = Space.objects.create(host=alice, title="Big", state="live", started_at=timezone.now())
    ids = list(User.objects.filter(handle__startswith="fan").values_list("pk", flat=True))
    real_send = mail.EmailMessage.send
    attempts = []

    def flaky_send(message, *args, **kwargs):
        attempts.append(message.to[0])
        if len(attempts) == 3:
            raise ConnectionError("mail server went away")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(mail.EmailMessage, "send", flaky_send)
    with pytest.raises(ConnectionError):
        tasks.deliver_notifications.run(space.pk, Kind.HOST_LIVE, ids)
    assert len(mailoutbox) == 2
    assert Notification.objects.filter(space=space, emailed_at__isnull=False).count() == 2
    tasks.deliver_notifications.run(space.pk, Kind.HOST_LIVE, ids)  # the retry
    assert len(mailoutbox) == 5 and len(set(mailed())) == 5
    assert Notification.objects.filter(space=space).count() == 5


def test_one_unsendable_email_does_not_stop_the_batch_and_is_not_retried(alice, mailoutbox):
    fans = make_people(4)
    # An address saved before addresses were checked: its To: header would carry a line break.
    fans.append(User.objects.create(handle="broken", username="broken", email="broken@example.com\nBcc: x@evil.test"))
    follow_all(fans, alice)
    space = Space.objects.create(host=alice, title="Big", state="live", started_at=timezone.now())
    ids = [fan.pk for fan in fans]
    assert tasks.deliver_notifications.run(space.pk, Kind.HOST_LIVE, ids) == 4  # no exception: the job finishes
    assert sorted(mailed()) == [f"fan{i}@example.com" for i in range(4)]
    assert Notification.objects.filter(space=space).count() == 5  # the in-app notification still arrives
    assert tasks.deliver_notifications.run(space.pk, Kind.HOST_LIVE, ids) == 0  # a retry sends nothing again
    assert len(mailoutbox) == 4


def test_a_deleted_space_is_skipped(alice):
    assert tasks.fan_out_notifications(12345, Kind.HOST_LIVE) == 0
    assert tasks.deliver_notifications(12345, Kind.HOST_LIVE, [alice.pk]) == 0


# --- A real worker against Redis ----------------------------------------------------------------------


class FinishedTasks:
    """Counts tasks the worker thread finished, so a test waits for the work instead of sleeping."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.threads: set[threading.Thread] = set()
        self.changed = threading.Condition()

    def __call__(self, sender=None, task=None, state=None, **kwargs) -> None:
        if not task.name.startswith("rooms.tasks."):
            return  # a leftover message of another test's job
        with self.changed:
            self.names.append(task.name)
            self.threads.add(threading.current_thread())
            self.changed.notify_all()

    @property
    def ran_off_the_test_thread(self) -> bool:
        return bool(self.threads) and threading.current_thread() not in self.threads

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.names) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"worker finished {len(self.names)} of {count} tasks: {self.names}")
                self.changed.wait(left)


@pytest.fixture
def finished():
    celery_app.control.purge()
    counter = FinishedTasks()
    task_postrun.connect(counter, weak=False, dispatch_uid="test-finished-tasks")
    yield counter
    task_postrun.disconnect(dispatch_uid="test-finished-tasks")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_go_live_and_reminders_once(celery_worker, finished, settings, make_user, mailoutbox):
    settings.SPACES_NOTIFY_BATCH_SIZE = 4
    host = make_user("host")
    fans = make_people(9)
    follow_all(fans, host)
    strangers = make_people(2, prefix="stranger")
    space = make_scheduled(host, "Worker talk")
    for person in [fans[0], *strangers]:
        Reminder.objects.create(space=space, user=person)

    services.start_space(space, host)  # commits; the worker picks the tasks up from Redis
    # Followers: 1 fan-out + 2 batches (8 fans without a reminder); reminders: 1 fan-out + 1 batch.
    finished.wait_for(5)
    assert finished.ran_off_the_test_thread
    assert sorted(finished.names).count("rooms.tasks.deliver_notifications") == 3
    assert Notification.objects.filter(space=space, kind=Kind.HOST_LIVE).count() == 8
    assert notified(Kind.REMINDER, space) == ["fan0", "stranger0", "stranger1"]
    assert len(mailoutbox) == 11 and len(set(mailed())) == 11

    # A retry (or a redelivered message) of the whole fan-out, on the worker again: nothing twice.
    tasks.fan_out_notifications.delay(space.pk, Kind.HOST_LIVE)
    tasks.fan_out_notifications.delay(space.pk, Kind.REMINDER)
    finished.wait_for(10)
    assert Notification.objects.filter(space=space).count() == 11
    assert len(mailoutbox) == 11


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_tells_reminder_holders_of_a_cancellation(celery_worker, finished, make_user, mailoutbox):
    host, listener = make_user("host"), make_user("listener")
    space = make_scheduled(host)
    Reminder.objects.create(space=space, user=listener)
    services.cancel_space(space, host)
    finished.wait_for(2)
    assert finished.ran_off_the_test_thread
    assert notified(Kind.CANCELLED, space) == ["listener"]
    assert [m.to for m in mailoutbox] == [["listener@example.com"]]
    tasks.deliver_notifications.delay(space.pk, Kind.CANCELLED, [listener.pk])
    finished.wait_for(3)
    assert Notification.objects.count() == 1 and len(mailoutbox) == 1
