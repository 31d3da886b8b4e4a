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
