"""Chat across two Daphne processes behind one Redis: every message reaches every socket on both, in one
order, numbered in line with the stage's deltas."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import connections

from tests.live.daphnes import Recorder, eventually, start_daphne
from tests.live.roomkit import live_space
from tests.servers import RoomSocket

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def daphnes(tmp_path):
    # A generous chat limit: the test sends bursts from few people.
    env = {"SPACES_CHAT_MESSAGES_PER_WINDOW": "100"}
    servers = [start_daphne(tmp_path / f"daphne-{i}.log", env=env) for i in range(2)]
    try:
        for server in servers:
            server.wait_listening()
        yield servers
    finally:
        for server in servers:
            server.kill()


async def test_chat_reaches_every_socket_on_both_processes_in_one_order(daphnes, alice, bob, carol):
    a, b = daphnes
    space = await database_sync_to_async(live_space)(alice)
    people = [(a, alice), (b, bob), (a, carol), (b, None), (a, None), (b, alice)]
    sockets = []
    for server, user in people:
        sock = await RoomSocket.open(server.room_socket_url(space.pk), user)
        assert (await sock.next())["event"] == "snapshot"
        sockets.append(sock)
    recorders = [Recorder(sock) for sock in sockets]
    host, listener, other = sockets[0], sockets[1], sockets[2]

    # Messages from both processes, interleaved with stage actions.
    hosts_view = recorders[0]
    for n in range(10):
        await (listener if n % 2 else other).send(action="chat", text=f"message {n}")
        if n == 4:
            await listener.send(action="request_to_speak")
            await eventually(lambda: hosts_view.events("request_added"), 5, "the host sees the request")
        if n == 7:
            await host.send(action="approve_request", user="bob")
    await host.send(action="chat", text="last")
    expected = sorted([f"message {n}" for n in range(10)] + ["last"])

    def everyone_has_everything() -> bool:
        return all(len(r.events("chat_message")) == len(expected) for r in recorders)

    await eventually(everyone_has_everything, 10, "every socket got every message")
    assert [r.events("error") for r in recorders[:3]] == [[], [], []]
    # Deltas committed in two processes may reach a socket swapped; a client puts them back in seq order
    # (docs/protocol.md, "Sequence numbers and resync"), so that is the order compared here.
    shown = ("chat_message", "role_changed")  # what everyone reads (requests are private)
    ordered = [sorted(r.deltas(), key=lambda m: m["seq"]) for r in recorders]
    public = [[(m["seq"], m["event"], m.get("text")) for m in view if m["event"] in shown] for view in ordered]
    assert all(view == public[0] for view in public), "every socket sees the same messages in the same order"
    texts = [text for _, name, text in public[0] if name == "chat_message"]
    assert sorted(texts) == expected
    for view in ordered:
        seqs = [m["seq"] for m in view]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "no gap and no repeat: chat is numbered too"
    assert [name for _, name, _ in public[0]].count("role_changed") == 1
    for recorder in recorders:
        await recorder.stop()
    await database_sync_to_async(connections.close_all)()
