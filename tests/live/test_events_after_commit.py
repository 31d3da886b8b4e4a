"""Every stage action's deltas leave the process only after its transaction commits, numbered inside it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from live import events, stage
from rooms.models import Participant
from rooms.services import RoomError
from tests.live.roomkit import live_space, put_on_stage

pytestmark = pytest.mark.django_db(transaction=True)
Role = Participant.Role


@pytest.fixture
def sent(monkeypatch) -> list[tuple[dict, bool]]:
    """Every channel-layer message the room sends, with whether a transaction was still open then."""
    messages: list[tuple[dict, bool]] = []

    def record(group: str, message: dict) -> None:
        messages.append((message, connection.in_atomic_block))

    monkeypatch.setattr(events, "_group_send", record)
    return messages


@pytest.fixture
def room(alice, bob, carol, make_user):
    """A live Space with a co-host (bob), a muted speaker (carol), a listener asking to speak (dave) and
    one invited (erin)."""
    space = live_space(alice)
    dave, erin = make_user("dave"), make_user("erin")
    put_on_stage(space, bob, Role.COHOST)
    put_on_stage(space, carol, Role.SPEAKER, muted=True)
    stage.request_to_speak(space, dave)
    stage.invite_to_speak(space, alice, erin)
    return space


# (actor, action, arguments): each changes the room and emits at least one delta.
ACTIONS = [
    ("frank", "request_to_speak", {}),
    ("dave", "cancel_request", {}),
    ("alice", "approve_request", {"user": "dave"}),
    ("bob", "deny_request", {"user": "dave"}),
    ("alice", "invite_to_speak", {"user": "frank"}),
    ("erin", "accept_invite", {}),
    ("erin", "decline_invite", {}),
    ("carol", "make_listener", {}),
    ("alice", "make_listener", {"user": "carol"}),
    ("alice", "mute", {}),
    ("carol", "unmute", {}),
    ("bob", "remove", {"user": "dave"}),
    ("alice", "add_cohost", {"user": "carol"}),
    ("alice", "remove_cohost", {"user": "bob"}),
    ("alice", "transfer_host", {"user": "bob"}),
    ("alice", "end_space", {}),
]


def run(space, actor: str, action: str, arguments: dict) -> None:
    from accounts.models import User

    user = User.objects.get(handle=actor)
    if action == "mute" and actor == "alice":
        stage.unmute(space, user)  # something to mute
    getattr(stage, action)(space, user, **arguments)


@pytest.mark.parametrize(("actor", "action", "arguments"), ACTIONS, ids=[a[1] + "-" + a[0] for a in ACTIONS])
def test_deltas_are_sent_after_commit_never_inside_the_transaction(room, make_user, sent, actor, action, arguments):
    make_user("frank")
    sent.clear()
    run(room, actor, action, arguments)
    deltas = [message for message, _ in sent if message["type"] == "room.event"]
    assert deltas, f"{action} sent no delta"
    assert all(not in_transaction for _, in_transaction in sent), f"{action} sent before its commit"


@pytest.mark.parametrize(("actor", "action", "arguments"), ACTIONS, ids=[a[1] + "-" + a[0] for a in ACTIONS])
def test_a_rolled_back_action_sends_nothing_and_takes_no_number(room, make_user, sent, actor, action, arguments):
    make_user("frank")
    before = events.current_seq(room.pk)
    sent.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        run(room, actor, action, arguments)
        raise RuntimeError("the caller's transaction fails after the action")
    assert [message for message, _ in sent if message["type"] == "room.event"] == []
    assert events.current_seq(room.pk) == before


def test_a_refused_action_sends_nothing(room, bob, sent):
    sent.clear()
    with pytest.raises(RoomError):
        stage.end_space(room, bob)
    assert sent == []


def test_seqs_count_up_by_one_in_commit_order(room, alice, carol, sent):
    sent.clear()
    stage.unmute(room, carol)
    stage.mute(room, alice, "carol")
    stage.unmute(room, carol)
    seqs = [message["seq"] for message, _ in sent if message["type"] == "room.event"]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert events.current_seq(room.pk) == seqs[-1]


def test_a_seq_cannot_be_taken_outside_a_transaction(room):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        events.next_seq(room.pk)
