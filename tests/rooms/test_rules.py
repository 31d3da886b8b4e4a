"""What a Space may be (rooms/rules.py): no control characters in what others read, and the limits on
how fast a host creates Spaces and tells followers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as accounts
from rooms import services
from rooms.models import Notification, Reminder, Space, Topic
from rooms.services import RoomError
from tests.live.roomkit import make_space

pytestmark = pytest.mark.django_db


# --- Control characters in what others read ---------------------------------------------------------------


@pytest.mark.parametrize("title", ["Line\nbreak", "Tab\there", "Bell\x07", "Bidi \u202eevil", "Zero\u200bwidth"])
def test_a_title_with_a_control_character_is_refused_under_the_title(alice, title):
    with pytest.raises(RoomError, match="The title can't contain") as caught:
        services.create_space(alice, title=title, start_now=True)
    assert caught.value.field == "title"
    assert not Space.objects.exists()


def test_a_description_keeps_line_breaks_but_refuses_other_control_characters(alice):
    space = services.create_space(alice, title="Notes", description="one\ntwo", start_now=True)
    assert space.description == "one\ntwo"
    with pytest.raises(RoomError, match="The description can't contain") as caught:
        services.update_space(space, alice, title="Notes", description="one\x1b[2Jtwo")
    assert caught.value.field == "description"
    space.refresh_from_db()
    assert space.description == "one\ntwo"


def test_an_edit_is_held_to_the_same_rule(alice):
    space = make_space(alice, title="Clean")
    with pytest.raises(RoomError, match="can't contain a line break"):
        services.update_space(space, alice, title="Dirty\nSubject: hi")
    space.refresh_from_db()
    assert space.title == "Clean"


def test_the_models_refuse_control_characters_for_the_admin(alice):
    from django.core.exceptions import ValidationError

    space = Space(host=alice, title="A\nB", description="ok\n", scheduled_for=timezone.now())
    with pytest.raises(ValidationError) as caught:
        space.full_clean()
    assert set(caught.value.message_dict) == {"title"}
    with pytest.raises(ValidationError) as caught:
        Topic(name="Music\r\n", slug="music").full_clean()
    assert set(caught.value.message_dict) == {"name"}


# --- Abuse limits: creating Spaces, telling followers --------------------------------------------------------


def _start_end_cycles(host, count: int) -> list[Space]:
    spaces = []
    for i in range(count):
        space = services.create_space(host, title=f"Cycle {i}", start_now=True)
        services.end_space(space, host)
        spaces.append(space)
    return spaces


def test_ten_start_end_cycles_tell_followers_once(alice, bob, carol, django_capture_on_commit_callbacks):
    accounts.follow(bob, alice)
    accounts.follow(carol, alice)
    with django_capture_on_commit_callbacks(execute=True):
        spaces = _start_end_cycles(alice, 10)
    told = Notification.objects.filter(kind=Notification.Kind.HOST_LIVE)
    assert sorted(told.values_list("recipient__handle", flat=True)) == ["bob", "carol"]
    assert set(told.values_list("space_id", flat=True)) == {spaces[0].pk}


def test_followers_hear_again_once_the_period_has_passed(settings, alice, bob, django_capture_on_commit_callbacks):
    settings.SPACES_GO_LIVE_NOTIFY_EVERY_MINUTES = 10
    accounts.follow(bob, alice)
    with django_capture_on_commit_callbacks(execute=True):
        first = _start_end_cycles(alice, 1)[0]
    Space.objects.filter(pk=first.pk).update(started_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        second = services.create_space(alice, title="Later", start_now=True)
    assert Notification.objects.filter(kind=Notification.Kind.HOST_LIVE, recipient=bob).count() == 2
    assert Notification.objects.filter(space=second, recipient=bob).exists()


def test_reminder_holders_are_told_even_when_followers_are_not(alice, bob, carol, django_capture_on_commit_callbacks):
    accounts.follow(bob, alice)
    scheduled = make_space(alice, title="Booked")
    Reminder.objects.create(space=scheduled, user=carol)
    with django_capture_on_commit_callbacks(execute=True):
        _start_end_cycles(alice, 1)
        services.start_space(scheduled, alice)  # within the period: followers are not told again
    assert Notification.objects.filter(space=scheduled, kind=Notification.Kind.REMINDER, recipient=carol).exists()
    assert not Notification.objects.filter(space=scheduled, kind=Notification.Kind.HOST_LIVE).exists()


def test_the_go_live_limit_is_per_host(alice, bob, carol, django_capture_on_commit_callbacks):
    accounts.follow(carol, alice)
    accounts.follow(carol, bob)
    with django_capture_on_commit_callbacks(execute=True):
        _start_end_cycles(alice, 2)
        _start_end_cycles(bob, 2)
    told = Notification.objects.filter(recipient=carol, kind=Notification.Kind.HOST_LIVE)
    assert sorted(told.values_list("actor__handle", flat=True)) == ["alice", "bob"]


def test_creating_past_the_hourly_limit_is_refused_and_creates_nothing(settings, alice, bob):
    settings.SPACES_MAX_SPACES_PER_HOUR = 3
    first = services.create_space(alice, title="One", start_now=True)
    services.end_space(first, alice)
    services.cancel_space(
        services.create_space(alice, title="Two", scheduled_for=timezone.now() + timedelta(hours=1)), alice
    )
    services.create_space(alice, title="Three", scheduled_for=timezone.now() + timedelta(hours=2))
    with pytest.raises(RoomError, match=r"You've created 3 Spaces in the last hour.*another in 60 minutes"):
        services.create_space(alice, title="Four", start_now=True)
    assert not Space.objects.filter(title="Four").exists()
    assert services.create_space(bob, title="Bob's", start_now=True).is_live  # another host is not held back


def test_the_hourly_limit_frees_up_as_the_hour_passes(settings, alice):
    settings.SPACES_MAX_SPACES_PER_HOUR = 2
    first = services.create_space(alice, title="One", scheduled_for=timezone.now() + timedelta(hours=1))
    services.create_space(alice, title="Two", scheduled_for=timezone.now() + timedelta(hours=1))
    Space.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=50))
    with pytest.raises(RoomError, match="another in 10 minutes"):
        services.create_space(alice, title="Three", start_now=True)
    Space.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=61))
    assert services.create_space(alice, title="Three", start_now=True).is_live


def test_the_limits_have_sensible_defaults_and_zero_turns_them_off(
    settings, alice, bob, django_capture_on_commit_callbacks
):
    from django.conf import settings as live_settings

    assert live_settings.SPACES_MAX_SPACES_PER_HOUR == 10
    assert live_settings.SPACES_GO_LIVE_NOTIFY_EVERY_MINUTES == 10
    settings.SPACES_MAX_SPACES_PER_HOUR = 0
    settings.SPACES_GO_LIVE_NOTIFY_EVERY_MINUTES = 0
    accounts.follow(bob, alice)
    with django_capture_on_commit_callbacks(execute=True):
        _start_end_cycles(alice, 12)
    assert Notification.objects.filter(recipient=bob, kind=Notification.Kind.HOST_LIVE).count() == 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_creations_cannot_both_take_the_last_place(settings, alice):
    import threading

    from django.db import connections

    settings.SPACES_MAX_SPACES_PER_HOUR = 1
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create(title: str) -> None:
        try:
            barrier.wait()
            services.create_space(alice, title=title, scheduled_for=timezone.now() + timedelta(hours=1))
            outcomes.append("created")
        except RoomError as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(f"Race {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcomes.count("created") == 1
    assert any("You've created 1 Space in the last hour" in outcome for outcome in outcomes)
    assert Space.objects.filter(host=alice).count() == 1
