"""A rolling restart: one of two Daphnes serving a live room is stopped with SIGTERM and started again.

The stopped process leaves the room's channel-layer group, the hubs group and the presence and audience
hashes at once (not after channels-redis's group expiry or the presence TTL), and the listeners on the
other process notice nothing: no close, no gap in the seq, deltas keep coming throughout.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections

from live import presence
from tests.live.daphnes import Recorder, eventually, start_daphne
from tests.live.roomkit import live_space
from tests.servers import RoomSocket

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


async def members(client: redis.asyncio.Redis, group: str) -> set[str]:
    return {m.decode() for m in await client.zrange(f"asgi:group:{group}", 0, -1)}


async def test_a_restarted_daphne_leaves_its_groups_and_the_other_process_notices_nothing(tmp_path, alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    room = f"space-{space.pk}"
    presence_key, audience_key = presence.KEY.format(space_id=space.pk), presence.AUDIENCE_KEY.format(space_id=space.pk)
    await client.delete(f"asgi:group:{room}", presence_key, audience_key)  # an earlier test database's room
    a, b = start_daphne(tmp_path / "a.log"), start_daphne(tmp_path / "b.log")
    restarted = None
    recorders: list[Recorder] = []
    try:
        for server in (a, b):
            server.wait_listening()
        host = Recorder(await RoomSocket.open(b.room_socket_url(space.pk), alice))
        listeners = [Recorder(await RoomSocket.open(b.room_socket_url(space.pk), carol))]
        listeners += [Recorder(await RoomSocket.open(b.room_socket_url(space.pk))) for _ in range(3)]
        on_a = [Recorder(await RoomSocket.open(a.room_socket_url(space.pk), bob))]
        on_a += [Recorder(await RoomSocket.open(a.room_socket_url(space.pk))) for _ in range(2)]
        recorders = [host, *listeners, *on_a]
        await eventually(lambda: all(r.events("snapshot") for r in recorders), 10, "every socket has its snapshot")
        await eventually(lambda: _count(client, room, 2), 10, "both hubs joined the room's group")
        hubs_before = await members(client, "room-hubs")
        room_before = await members(client, room)
        await eventually(lambda: _fields(client, presence_key, 2), 10, "both processes report presence")
        await eventually(lambda: _fields(client, audience_key, 2), 10, "both processes report their audience")

        # The host (on b) keeps the room busy while a restarts: every delta must reach b's listeners.
        acting = asyncio.get_running_loop().create_task(_mute_and_unmute(host, until_stopped := asyncio.Event()))
        await asyncio.sleep(0.5)
        stopped_at = time.monotonic()
        await asyncio.to_thread(a.stop, 10)
        exit_took = time.monotonic() - stopped_at
        assert a.process.returncode is not None
        left = room_before - await members(client, room)
        assert len(left) == 1, (room_before, await members(client, room))
        (a_hub,) = left
        assert a_hub in hubs_before and a_hub not in await members(client, "room-hubs")
        assert len(await client.hkeys(presence_key)) == 1 and len(await client.hkeys(audience_key)) == 1
        clean_took = time.monotonic() - stopped_at
        assert "left the channel layer's groups for shutdown" in a.output()

        restarted = start_daphne(tmp_path / "a2.log")
        await asyncio.to_thread(restarted.wait_listening)
        back = Recorder(await RoomSocket.open(restarted.room_socket_url(space.pk), bob))
        recorders.append(back)
        await eventually(lambda: back.events("snapshot"), 10, "bob is back, on the restarted process")
        await eventually(lambda: _count(client, room, 2), 10, "the restarted hub joined the room's group")
        assert a_hub not in await members(client, room)
        await asyncio.sleep(0.5)
        until_stopped.set()
        actions = await acting
        await eventually(lambda: _delivered(host, listeners), 5, "the last deltas reach b's listeners")
        print(
            f"\nSIGTERM → daphne exited in {exit_took:.2f} s, its group, hubs and presence entries gone after "
            f"{clean_took:.2f} s; {actions} actions during the restart, b's {len(listeners)} listeners saw every delta"
        )
        # b's listeners noticed nothing: still open, every delta in order, no gap.
        expected = [m["seq"] for m in host.deltas()]
        assert len(expected) >= actions >= 5
        for listener in listeners:
            assert not listener.closed
            seqs = [m["seq"] for m in listener.deltas() if m["seq"] > listener.events("snapshot")[0]["seq"]]
            assert seqs == expected
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert all(r.closed for r in on_a)  # a's own sockets were closed by the restart, to reconnect
    finally:
        for recorder in recorders:
            await recorder.stop()
        for server in (a, b, restarted):
            if server is not None:
                server.kill()
        await client.delete(f"asgi:group:{room}", presence_key, audience_key)
        await client.aclose()
        await database_sync_to_async(connections.close_all)()


async def _mute_and_unmute(host: Recorder, stop: asyncio.Event) -> int:
    """The host mutes and unmutes themselves every 300 ms (a socket may send 20 per 5 s): one delta
    each. Returns how many actions."""
    muted = host.events("snapshot")[0]["me"]["is_muted"]
    actions = 0
    while not stop.is_set():
        await host.sock.send(action="unmute" if muted else "mute")
        muted, actions = not muted, actions + 1
        await asyncio.sleep(0.3)
    return actions


def _delivered(host: Recorder, listeners: list[Recorder]) -> bool:
    last = host.deltas()[-1]["seq"] if host.deltas() else 0
    return all(listener.deltas() and listener.deltas()[-1]["seq"] == last for listener in listeners)


async def _count(client: redis.asyncio.Redis, group: str, expected: int) -> bool:
    return len(await members(client, group)) == expected


async def _fields(client: redis.asyncio.Redis, key: str, expected: int) -> bool:
    return len(await client.hkeys(key)) == expected
