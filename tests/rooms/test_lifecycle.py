"""A Space's life: who may host, creating and scheduling, and every allowed and refused transition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Follow
from rooms import services, signals
from rooms.models import Notification, Participant, Reminder, Space, SpaceStateError, Topic
from rooms.services import RoomError
from tests.live.roomkit import make_space

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_signals():
    """Records which Space signals were sent, for which Space."""
    received = []

    def receiver(signal, sender, space, **kwargs):
        received.append((signal, space.pk))

    for signal in (signals.space_started, signals.space_ended, signals.space_cancelled):
        signal.connect(receiver, weak=False, dispatch_uid="test-recorder")
    yield received
    for signal in (signals.space_started, signals.space_ended, signals.space_cancelled):
        signal.disconnect(dispatch_uid="test-recorder")


# --- Hosting gate --------------------------------------------------------------------------------------


def test_any_verified_account_can_host(alice):
    assert services.hosting_refusal(alice) is None
    space = services.create_space(alice, title="Hello", start_now=True)
    assert space.is_live


def test_an_unverified_account_is_told_to_verify(make_user):
    dora = make_user("dora", verified=False)
    with pytest.raises(RoomError, match="Verify your e-mail address"):
        services.create_space(dora, title="Hello", start_now=True)
    assert not Space.objects.exists()


def test_an_inactive_account_cannot_host(make_user):
    dora = make_user("dora", is_active=False)
    with pytest.raises(RoomError, match="not active"):
        services.create_space(dora, title="Hello", start_now=True)


def test_the_follower_gate_refuses_with_a_clear_message(settings, alice, bob, carol):
    settings.SPACES_MIN_FOLLOWERS_TO_HOST = 2
    accounts.follow(bob, alice)
    with pytest.raises(RoomError, match="at least 2 followers; you have 1"):
        services.create_space(alice, title="Hello", start_now=True)
    accounts.follow(carol, alice)
    assert services.create_space(alice, title="Hello", start_now=True).is_live


def test_the_follower_gate_is_off_by_default(settings, alice):
    assert settings.SPACES_MIN_FOLLOWERS_TO_HOST == 0
    assert not Follow.objects.filter(followee=alice).exists()
    assert services.can_host(alice)


# --- Creating and scheduling -----------------------------------------------------------------------


def test_starting_now_makes_the_host_a_muted_host_participant(alice, sent_signals):
    space = services.create_space(alice, title="  Morning   coffee ", start_now=True)
    space.refresh_from_db()
    assert space.title == "Morning coffee"
    assert space.state == Space.State.LIVE and space.started_at is not None and space.scheduled_for is None
    host = Participant.objects.get(space=space)
    assert (host.user, host.role, host.is_muted) == (alice, Participant.Role.HOST, True)
    assert sent_signals == [(signals.space_started, space.pk)]


def test_scheduling_keeps_the_space_waiting(alice, sent_signals):
    when = timezone.now() + timedelta(days=3)
    topics = [Topic.objects.create(name=n, slug=n.lower()) for n in ("Music", "Film")]
    space = services.create_space(alice, title="Later", description="Soon", topics=topics, scheduled_for=when)
    assert space.state == Space.State.SCHEDULED and space.scheduled_for == when and space.started_at is None
    assert set(space.topics.all()) == set(topics)
    assert not Participant.objects.exists()
    assert sent_signals == []


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (timedelta(minutes=-1), "That time has passed"),
        (timedelta(days=30, minutes=1), "up to 30 days ahead"),
    ],
)
def test_scheduling_is_refused_in_the_past_and_too_far_ahead(alice, offset, message):
    with pytest.raises(RoomError, match=message) as refused:
        services.create_space(alice, title="Later", scheduled_for=timezone.now() + offset)
    assert refused.value.field == "scheduled_for"


def test_scheduling_follows_the_max_days_setting(settings, alice):
    settings.SPACES_MAX_SCHEDULE_DAYS = 2
    with pytest.raises(RoomError, match="up to 2 days ahead"):
        services.create_space(alice, title="Later", scheduled_for=timezone.now() + timedelta(days=3))
    assert services.create_space(alice, title="Later", scheduled_for=timezone.now() + timedelta(days=1))


def test_scheduling_needs_a_time(alice):
    with pytest.raises(RoomError, match="Pick a date and time"):
        services.create_space(alice, title="Later")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "   "}, "Give your Space a title"),
        ({"title": "x" * 71}, "at most 70 characters"),
        ({"title": "ok", "description": "x" * 281}, "at most 280 characters"),
    ],
)
def test_title_and_description_lengths_are_enforced(alice, fields, message):
    with pytest.raises(RoomError, match=message):
        services.create_space(alice, start_now=True, **fields)


def test_a_space_has_at_most_three_topics(alice):
    topics = [Topic.objects.create(name=f"T{i}", slug=f"t{i}") for i in range(4)]
    with pytest.raises(RoomError, match="at most 3 topics"):
        services.create_space(alice, title="Many", topics=topics, start_now=True)
    assert services.create_space(alice, title="Three", topics=topics[:3], start_now=True).topics.count() == 3


# --- The state machine -----------------------------------------------------------------------------

ALLOWED = {("scheduled", "start"), ("live", "end"), ("scheduled", "cancel")}
ALL_MOVES = [
    (state, move) for state in ("scheduled", "live", "ended", "cancelled") for move in ("start", "end", "cancel")
]


@pytest.mark.parametrize(("state", "move"), ALL_MOVES)
def test_model_transitions(alice, state, move):
    space = make_space(alice, state)
    if (state, move) in ALLOWED:
        getattr(space, move)()
        assert space.state == {"start": "live", "end": "ended", "cancel": "cancelled"}[move]
        assert (space.started_at if move == "start" else space.ended_at) is not None
    else:
        with pytest.raises(SpaceStateError, match=f"is {state}"):
            getattr(space, move)()
        assert space.state == state


SERVICE = {"start": services.start_space, "end": services.end_space, "cancel": services.cancel_space}


@pytest.mark.parametrize(("state", "move"), ALL_MOVES)
def test_service_transitions_refuse_with_a_room_error(alice, broadcasts, state, move):
    space = make_space(alice, state)
    if (state, move) in ALLOWED:
        SERVICE[move](space, alice)
        stored = Space.objects.get(pk=space.pk)
        assert stored.state == space.state == {"start": "live", "end": "ended", "cancel": "cancelled"}[move]
    else:
        with pytest.raises(RoomError, match="can't be"):
            SERVICE[move](space, alice)
        assert Space.objects.get(pk=space.pk).state == state


def test_the_transition_sets_its_timestamps(alice, broadcasts):
    space = make_space(alice)
    before = timezone.now()
    services.start_space(space, alice)
    assert space.started_at >= before and space.ended_at is None
    services.end_space(space, alice)
    assert space.ended_at >= space.started_at
    cancelled = make_space(alice)
    services.cancel_space(cancelled, alice)
    assert cancelled.ended_at is not None and cancelled.started_at is None


def test_a_stale_instance_cannot_start_twice(alice, broadcasts):
    space = make_space(alice)
    stale = Space.objects.get(pk=space.pk)
    services.start_space(space, alice)
    with pytest.raises(RoomError, match="is live can't be started"):
        services.start_space(stale, alice)


def test_a_host_is_live_in_one_space_at_a_time(alice):
    live = services.create_space(alice, title="First", start_now=True)
    scheduled = make_space(alice)
    with pytest.raises(RoomError, match="already live in “First”"):
        services.start_space(scheduled, alice)
    with pytest.raises(RoomError, match="already live"):
        services.create_space(alice, title="Second", start_now=True)
    services.end_space(live, alice)
    assert services.start_space(scheduled, alice).is_live


def test_the_database_holds_one_live_space_per_host(alice):
    make_space(alice, "live")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_space(alice, "live")


def test_other_hosts_can_be_live_at_the_same_time(alice, bob):
    services.create_space(alice, title="A", start_now=True)
    assert services.create_space(bob, title="B", start_now=True).is_live


# --- Who may act ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "move"), sorted(ALLOWED))
def test_only_the_host_may_change_the_state(alice, bob, state, move):
    space = make_space(alice, state)
    with pytest.raises(RoomError, match="Only the host"):
        SERVICE[move](space, bob)
    assert Space.objects.get(pk=space.pk).state == state


@pytest.mark.parametrize(("state", "move"), [("live", "end"), ("scheduled", "cancel")])
def test_staff_may_end_and_cancel_when_acting_as_staff(alice, make_user, broadcasts, state, move):
    moderator = make_user("mod", is_staff=True)
    space = make_space(alice, state)
    with pytest.raises(RoomError, match="Only the host"):
        SERVICE[move](space, moderator)
    SERVICE[move](space, moderator, by_staff=True)
    assert Space.objects.get(pk=space.pk).is_over


def test_by_staff_means_nothing_for_a_non_staff_user(alice, bob):
    space = make_space(alice, "live")
    with pytest.raises(RoomError, match="Only the host"):
        services.end_space(space, bob, by_staff=True)


# --- What each transition tells the rest of the system ----------------------------------------------


def test_ending_tells_the_room_and_sends_space_ended(alice, broadcasts, sent_signals):
    space = make_space(alice, "live")
    services.end_space(space, alice)
    assert broadcasts == [(space.pk, "space_ended", {"reason": "ended_by_host"})]
    assert sent_signals == [(signals.space_ended, space.pk)]


def test_staff_ending_gives_its_reason(alice, make_user, broadcasts):
    space = make_space(alice, "live")
    services.end_space(space, make_user("mod", is_staff=True), by_staff=True)
    assert broadcasts == [(space.pk, "space_ended", {"reason": "ended_by_staff"})]


def test_cancelling_sends_space_cancelled_and_tells_reminder_holders(
    alice, bob, carol, sent_signals, django_capture_on_commit_callbacks, mailoutbox
):
    space = make_space(alice)
    Reminder.objects.create(space=space, user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_space(space, alice)
    assert sent_signals == [(signals.space_cancelled, space.pk)]
    told = Notification.objects.get(space=space)
    assert (told.recipient, told.kind) == (bob, Notification.Kind.CANCELLED)
    assert [m.to for m in mailoutbox] == [["bob@example.com"]]


def test_starting_a_scheduled_space_keeps_its_topics_and_seats_the_host(alice, sent_signals):
    space = make_space(alice)
    space.topics.add(Topic.objects.create(name="Music", slug="music"))
    services.start_space(space, alice)
    assert Participant.objects.get(space=space).role == Participant.Role.HOST
    assert space.topics.count() == 1
    assert sent_signals == [(signals.space_started, space.pk)]


# --- Editing ---------------------------------------------------------------------------------------


def test_the_host_edits_a_scheduled_space(alice):
    space = make_space(alice)
    music = Topic.objects.create(name="Music", slug="music")
    when = timezone.now() + timedelta(days=5)
    services.update_space(space, alice, title="New title", description="New", topics=[music], scheduled_for=when)
    space.refresh_from_db()
    assert (space.title, space.description, space.scheduled_for) == ("New title", "New", when)
    assert list(space.topics.all()) == [music]


def test_rescheduling_follows_the_same_rules(alice):
    space = make_space(alice)
    with pytest.raises(RoomError, match="That time has passed"):
        services.update_space(space, alice, title="T", scheduled_for=timezone.now() - timedelta(hours=1))


def test_a_live_space_can_be_retitled_and_the_room_hears_it(alice, broadcasts):
    space = make_space(alice, "live")
    services.update_space(space, alice, title="Retitled")
    assert Space.objects.get(pk=space.pk).title == "Retitled"
    assert broadcasts == [(space.pk, "space_updated", {"title": "Retitled", "description": ""})]


@pytest.mark.parametrize("state", ["ended", "cancelled"])
def test_a_finished_space_cannot_be_edited(alice, state):
    space = make_space(alice, state)
    with pytest.raises(RoomError, match="can't be edited"):
        services.update_space(space, alice, title="Too late")


def test_only_the_host_edits(alice, bob):
    with pytest.raises(RoomError, match="Only the host"):
        services.update_space(make_space(alice), bob, title="Mine now")


# --- Reminders -------------------------------------------------------------------------------------


def test_a_reminder_toggles(alice, bob):
    space = make_space(alice)
    assert services.toggle_reminder(space, bob) is True
    assert services.has_reminder(space, bob)
    assert services.toggle_reminder(space, bob) is False
    assert not Reminder.objects.exists()


@pytest.mark.parametrize("state", ["live", "ended", "cancelled"])
def test_reminders_are_only_for_spaces_that_have_not_started(alice, bob, state):
    with pytest.raises(RoomError, match="haven't started"):
        services.toggle_reminder(make_space(alice, state), bob)


def test_the_host_needs_no_reminder(alice):
    with pytest.raises(RoomError, match="You're the host"):
        services.toggle_reminder(make_space(alice), alice)


def test_a_blocked_user_cannot_set_a_reminder(alice, bob):
    accounts.block(alice, bob)
    with pytest.raises(RoomError, match="isn't available"):
        services.toggle_reminder(make_space(alice), bob)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_starts_leave_one_live_space(alice):
    """Two requests start two of the host's Spaces at once: the database lets one win, the other is told."""
    import threading

    from django.db import connection as main_connection
    from django.db import connections

    spaces = [make_space(alice, title=f"Space {i}") for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start(space: Space) -> None:
        try:
            barrier.wait()
            services.start_space(space, alice)
            outcomes.append("live")
        except RoomError as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start, args=(space,)) for space in spaces]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert main_connection.vendor == "postgresql"
    assert sorted(outcomes)[0].startswith("You're already live") and sorted(outcomes)[1] == "live"
    assert Space.objects.live().filter(host=alice).count() == 1


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
