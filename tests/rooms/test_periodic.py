"""The periodic jobs: end Spaces live too long, cancel Spaces whose host never showed up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from rooms import tasks
from rooms.models import Notification, Reminder, Space
from spaces_site.celery import app as celery_app

pytestmark = pytest.mark.django_db


def live_since(host, ago: timedelta, title: str) -> Space:
    now = timezone.now()
    return Space.objects.create(host=host, title=title, state="live", started_at=now - ago)


def scheduled_for(host, ago: timedelta, title: str) -> Space:
    return Space.objects.create(host=host, title=title, scheduled_for=timezone.now() - ago)


def state(space: Space) -> str:
    return Space.objects.get(pk=space.pk).state


def test_beat_runs_both_jobs_and_the_worker_knows_them():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"rooms.tasks.end_overlong_spaces", "rooms.tasks.cancel_no_show_spaces"} <= scheduled
    celery_app.loader.import_default_modules()
    assert {"rooms.tasks.end_overlong_spaces", "rooms.tasks.cancel_no_show_spaces"} <= set(celery_app.tasks)


def test_spaces_live_longer_than_the_maximum_are_ended(alice, bob, carol, broadcasts):
    too_long = live_since(alice, timedelta(hours=12, minutes=1), "Marathon")
    recent = live_since(bob, timedelta(hours=11, minutes=59), "Long but fine")
    waiting = scheduled_for(carol, -timedelta(hours=1), "Later")
    assert tasks.end_overlong_spaces() == 1
    assert state(too_long) == "ended" and Space.objects.get(pk=too_long.pk).ended_at is not None
    assert state(recent) == "live" and state(waiting) == "scheduled"
    assert broadcasts == [(too_long.pk, "space_ended", {"reason": "max_duration"})]


def test_the_maximum_duration_is_a_setting(settings, alice, broadcasts):
    settings.SPACES_MAX_DURATION = timedelta(minutes=30)
    space = live_since(alice, timedelta(minutes=31), "Half an hour is enough")
    tasks.end_overlong_spaces()
    assert state(space) == "ended"


def test_running_the_end_job_again_changes_nothing(alice, broadcasts):
    live_since(alice, timedelta(hours=13), "Marathon")
    assert tasks.end_overlong_spaces() == 1
    assert tasks.end_overlong_spaces() == 0
    assert len(broadcasts) == 1


def test_no_show_spaces_are_cancelled_after_the_grace(alice, bob, carol, make_user):
    no_show = scheduled_for(alice, timedelta(hours=1, minutes=1), "Never started")
    in_grace = scheduled_for(bob, timedelta(minutes=59), "Host is late")
    future = scheduled_for(carol, -timedelta(days=1), "Tomorrow")
    live = live_since(make_user("dave"), timedelta(hours=3), "Started on time")
    assert tasks.cancel_no_show_spaces() == 1
    assert state(no_show) == "cancelled"
    assert (state(in_grace), state(future), state(live)) == ("scheduled", "scheduled", "live")
    assert tasks.cancel_no_show_spaces() == 0


def test_the_grace_is_a_setting(settings, alice):
    settings.SPACES_NO_SHOW_GRACE = timedelta(minutes=5)
    space = scheduled_for(alice, timedelta(minutes=6), "Five minutes late")
    tasks.cancel_no_show_spaces()
    assert state(space) == "cancelled"


def test_people_with_a_reminder_hear_of_a_no_show_cancellation(
    alice, bob, carol, django_capture_on_commit_callbacks, mailoutbox
):
    space = scheduled_for(alice, timedelta(hours=2), "Never started")
    Reminder.objects.create(space=space, user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.cancel_no_show_spaces()
    note = Notification.objects.get()
    assert (note.recipient, note.kind, note.space) == (bob, Notification.Kind.CANCELLED, space)
    assert note.text == "Cancelled: Never started, hosted by @alice"
    assert [m.to for m in mailoutbox] == [["bob@example.com"]]
    assert carol.notifications.count() == 0


def test_a_cancelled_space_refunds_through_the_signal(alice):
    from rooms.signals import space_cancelled

    refunded = []
    space_cancelled.connect(lambda sender, space, **kw: refunded.append(space.pk), weak=False, dispatch_uid="t")
    try:
        space = scheduled_for(alice, timedelta(hours=2), "Ticketed no-show")
        tasks.cancel_no_show_spaces()
    finally:
        space_cancelled.disconnect(dispatch_uid="t")
    assert refunded == [space.pk]
