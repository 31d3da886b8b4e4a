"""A listener who asked to speak sees their place in line (issue 11, "The audience"), kept current as the
requests ahead of theirs are approved, denied, taken back or removed; and nobody learns from it who else
asked (that stays between the requester and the hosts)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from live import stage
from tests.live.client import RoomClient
from tests.live.roomkit import act, close_all, join, live_space, receive_delta

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]


class Listener:
    """One person's socket and their view of the room (the reference client applies what arrives)."""

    def __init__(self, socket, snapshot: dict) -> None:
        self.socket = socket
        self.view = RoomClient(snapshot)

    @classmethod
    async def join(cls, space, user) -> Listener:
        socket, snapshot = await join(space.pk, user)
        return cls(socket, snapshot)

    async def catch_up(self, count: int) -> list[dict]:
        """Take the next `count` deltas (a private one for someone else arrives as `noop`)."""
        deltas = [await receive_delta(self.socket) for _ in range(count)]
        for delta in deltas:
            self.view.receive(delta)
        return deltas

    @property
    def place(self) -> int | None:
        return self.view.state["me"]["request_position"]


@pytest.fixture
async def room(alice, bob, carol, make_user):
    space = await database_sync_to_async(live_space)(alice)
    dave = await database_sync_to_async(make_user)("dave")
    people = {"alice": alice, "bob": bob, "carol": carol, "dave": dave}
    sockets = {handle: await Listener.join(space, user) for handle, user in people.items()}
    yield space, sockets
    await close_all(*(listener.socket for listener in sockets.values()))


async def everyone_catches_up(sockets: dict, count: int) -> None:
    for listener in sockets.values():
        await listener.catch_up(count)


async def test_requesters_see_their_place_and_move_up_as_the_line_moves(room, alice, bob, carol, make_user):
    space, sockets = room
    for handle in ("bob", "carol", "dave"):
        await act(sockets[handle].socket, "request_to_speak")
        await everyone_catches_up(sockets, 1)
    assert (sockets["bob"].place, sockets["carol"].place, sockets["dave"].place) == (1, 2, 3)
    assert sockets["alice"].view.state["me"]["request_position"] is None  # the host isn't in line

    # The host approves the first: the others move up one (they learn only that a place emptied).
    await act(sockets["alice"].socket, "approve_request", user="bob")
    request_removed, moved, role_changed = await sockets["carol"].catch_up(3)
    assert request_removed == {"event": "noop", "seq": request_removed["seq"]}  # not carol's business who
    assert moved == {"event": "queue_moved", "seq": moved["seq"], "position": 1}
    assert role_changed["event"] == "role_changed" and role_changed["user"] == "bob"
    for handle in ("alice", "bob", "dave"):
        await sockets[handle].catch_up(3)
    assert (sockets["bob"].place, sockets["carol"].place, sockets["dave"].place) == (None, 1, 2)

    # The first in line takes it back; the last one moves up.
    await act(sockets["carol"].socket, "cancel_request")
    await everyone_catches_up(sockets, 2)
    assert (sockets["carol"].place, sockets["dave"].place) == (None, 1)

    # Someone new joins the end of the line; the host removes the one ahead of them.
    erin = await database_sync_to_async(make_user)("erin")
    sockets["erin"] = await Listener.join(space, erin)
    await act(sockets["erin"].socket, "request_to_speak")
    await everyone_catches_up(sockets, 1)
    assert (sockets["dave"].place, sockets["erin"].place) == (1, 2)
    await act(sockets["alice"].socket, "remove", user="dave")
    for handle in ("alice", "bob", "carol", "erin"):
        await sockets[handle].catch_up(2)
    assert sockets["erin"].place == 1

    # Each view is what a fresh snapshot says.
    for handle, user in {"carol": carol, "erin": erin}.items():
        fresh = await database_sync_to_async(stage.snapshot)(space, user)
        assert fresh.me is not None and fresh.me.request_position == sockets[handle].place


async def test_the_last_in_line_leaving_moves_nobody(room):
    space, sockets = room
    await act(sockets["bob"].socket, "request_to_speak")
    await act(sockets["carol"].socket, "request_to_speak")
    await everyone_catches_up(sockets, 2)
    await act(sockets["alice"].socket, "deny_request", user="carol")
    [denied] = await sockets["bob"].catch_up(1)
    assert denied["event"] == "noop"
    await act(sockets["alice"].socket, "deny_request", user="bob")
    [bobs] = await sockets["bob"].catch_up(1)
    assert (bobs["event"], bobs["reason"]) == ("request_removed", "denied")  # the next seq: no queue_moved between
    assert bobs["seq"] == denied["seq"] + 1


async def test_a_requester_who_reconnects_finds_their_place_in_the_snapshot(room, carol):
    space, sockets = room
    await act(sockets["bob"].socket, "request_to_speak")
    await act(sockets["carol"].socket, "request_to_speak")
    await everyone_catches_up(sockets, 2)
    await close_all(sockets["carol"].socket)
    again = await Listener.join(space, carol)
    assert again.view.state["me"]["requested"] is True and again.place == 2
    await close_all(again.socket)
