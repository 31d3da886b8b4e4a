"""The moderation log: every moderator action in a Space leaves an entry (actor, target, action, time) in its
own transaction; acting on yourself or being refused leaves none; the host and co-hosts read it over HTTP,
before and after the Space ends; staff actions (end, ban) are in it too."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import services as accounts
from live import chat, stage
from live.models import ChatMessage, ModerationEntry
from rooms import services as rooms
from rooms.models import Participant
from rooms.services import RoomError
from tests.live.roomkit import live_space, put_on_stage

pytestmark = pytest.mark.django_db
Role = Participant.Role


@pytest.fixture
def space(alice):
    return live_space(alice)


def entries(space) -> list[tuple]:
    rows = ModerationEntry.objects.filter(space=space).order_by("id")
    return [(e.actor.handle if e.actor else None, e.action, e.target.handle if e.target else None) for e in rows]


def message_by(space, user, text="hello") -> ChatMessage:
    return ChatMessage.objects.create(space=space, user=user, text=text)


# Each: how to arrange the room, the action, and the entry it leaves.
CASES = {
    "mute": (lambda s, a, b: put_on_stage(s, b, muted=False), lambda s, a, b: stage.mute(s, a, "bob"), "bob"),
    "move_to_audience": (lambda s, a, b: put_on_stage(s, b), lambda s, a, b: stage.make_listener(s, a, "bob"), "bob"),
    "remove": (None, lambda s, a, b: stage.remove(s, a, "bob"), "bob"),
    "approve_request": (
        lambda s, a, b: stage.request_to_speak(s, b),
        lambda s, a, b: stage.approve_request(s, a, "bob"),
        "bob",
    ),
    "deny_request": (
        lambda s, a, b: stage.request_to_speak(s, b),
        lambda s, a, b: stage.deny_request(s, a, "bob"),
        "bob",
    ),
    "invite_to_speak": (None, lambda s, a, b: stage.invite_to_speak(s, a, "bob"), "bob"),
    "add_cohost": (None, lambda s, a, b: stage.add_cohost(s, a, "bob"), "bob"),
    "remove_cohost": (
        lambda s, a, b: put_on_stage(s, b, Role.COHOST),
        lambda s, a, b: stage.remove_cohost(s, a, "bob"),
        "bob",
    ),
    "transfer_host": (
        lambda s, a, b: put_on_stage(s, b, Role.COHOST),
        lambda s, a, b: stage.transfer_host(s, a, "bob"),
        "bob",
    ),
    "delete_message": (None, lambda s, a, b: chat.delete_message(s, a, message_by(s, b).pk), "bob"),
    "chat_mute": (None, lambda s, a, b: chat.chat_mute(s, a, "bob"), "bob"),
    "chat_unmute": (
        lambda s, a, b: chat.chat_mute(s, a, "bob"),
        lambda s, a, b: chat.chat_unmute(s, a, "bob"),
        "bob",
    ),
    "set_chat": (None, lambda s, a, b: chat.set_chat(s, a, mode="speakers", slow_seconds=10), None),
    "pin": (None, lambda s, a, b: chat.pin(s, a, "https://example.com", "Notes"), None),
    "unpin": (
        lambda s, a, b: chat.pin(s, a, "https://example.com", "Notes"),
        lambda s, a, b: chat.unpin(s, a),
        None,
    ),
}


@pytest.mark.parametrize("action", list(CASES))
def test_every_moderator_action_is_logged(space, alice, bob, action):
    arrange, run, target = CASES[action]
    if arrange is not None:
        arrange(space, alice, bob)
    ModerationEntry.objects.all().delete()  # what arranging logged
    run(space, alice, bob)
    assert entries(space) == [("alice", action, target)]
    entry = ModerationEntry.objects.get(space=space)
    assert entry.created_at is not None and not entry.as_staff


def test_the_log_says_what_changed(space, alice, bob):
    chat.set_chat(space, alice, mode="speakers", slow_seconds=10)
    chat.pin(space, alice, "https://example.com/a", "Slides")
    chat.delete_message(space, alice, message_by(space, bob, "something rude").pk)
    details = list(ModerationEntry.objects.filter(space=space).order_by("id").values_list("detail", flat=True))
    assert details == [
        "chat: host, co-hosts and speakers, slow mode 10 s",
        "Slides <https://example.com/a>",
        "“something rude”",
    ]


def test_acting_on_yourself_or_being_refused_leaves_no_entry(space, alice, bob):
    put_on_stage(space, bob, muted=False)
    stage.mute(space, bob)  # yourself
    chat.delete_message(space, bob, message_by(space, bob).pk)  # your own message
    stage.make_listener(space, bob)  # stepping down
    with pytest.raises(RoomError):
        stage.remove(space, bob, "alice")  # refused: the whole transaction rolls back
    with pytest.raises(RoomError):
        chat.chat_mute(space, bob, "alice")
    assert entries(space) == []


def test_staff_actions_in_the_admin_are_logged_as_staff(space, alice, bob, make_user):
    staff = make_user("staffer", is_staff=True)
    put_on_stage(space, bob, muted=False)
    stage.mute(space, staff, "bob", as_staff=True)
    chat.delete_as_staff(message_by(space, bob), staff)
    assert entries(space) == [("staffer", "mute", "bob"), ("staffer", "delete_message", "bob")]
    assert all(ModerationEntry.objects.filter(space=space).values_list("as_staff", flat=True))


def test_a_staff_end_and_a_ban_are_logged_and_kept_after_the_space_ends(space, alice, bob, carol, make_user):
    staff = make_user("staffer", is_staff=True)
    put_on_stage(space, bob)
    accounts.ban(bob, by=staff)
    rooms.end_space(space, staff, by_staff=True)
    assert entries(space) == [("staffer", "ban", "bob"), ("staffer", "end_space", "alice")]
    accounts.ban(carol, by=staff)  # in no Space: logged without one
    assert ModerationEntry.objects.filter(space=None, action="ban", target=carol, actor=staff).exists()


def test_a_banned_host_s_space_has_the_ban_in_its_log(space, alice, make_user):
    staff = make_user("staffer", is_staff=True)
    accounts.ban(alice, by=staff)
    assert entries(space) == [("staffer", "ban", "alice")]


def test_the_host_and_co_hosts_read_the_log_over_http(space, alice, bob, carol):
    put_on_stage(space, carol, Role.COHOST)
    chat.chat_mute(space, alice, "bob")
    client = Client()
    client.force_login(bob)
    assert client.get(f"/spaces/{space.pk}/room/log/").status_code == 403
    client.force_login(carol)
    page = client.get(f"/spaces/{space.pk}/room/log/").json()
    assert [(e["actor"], e["action"], e["target"], e["label"]) for e in page["entries"]] == [
        ("alice", "chat_mute", "bob", "Muted in chat")
    ]
    rooms.end_space(space, alice)
    client.force_login(alice)
    assert client.get(f"/spaces/{space.pk}/room/log/").json()["entries"][0]["action"] == "chat_mute"


def test_the_log_pages_back(space, alice, bob):
    for n in range(55):
        chat.set_chat(space, alice, slow_seconds=n + 1)
    client = Client()
    client.force_login(alice)
    first = client.get(f"/spaces/{space.pk}/room/log/").json()
    assert len(first["entries"]) == 50 and first["before"] == first["entries"][-1]["id"]
    second = client.get(f"/spaces/{space.pk}/room/log/?before={first['before']}").json()
    assert len(second["entries"]) == 5 and second["before"] is None
    assert client.get(f"/spaces/{space.pk}/room/log/?before=x").status_code == 400


def test_a_recording_taken_down_by_staff_is_in_the_space_s_log(space, alice, make_user):
    from recordings import services as recordings
    from recordings.models import Recording

    staff = make_user("staffer", is_staff=True)
    rooms.end_space(space, alice)
    recording = Recording.objects.create(space=space, state=Recording.State.READY)
    recordings.take_down(recording, staff)
    assert entries(space) == [("staffer", "take_down", None)]
