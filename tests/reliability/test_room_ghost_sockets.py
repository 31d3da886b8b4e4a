"""Ghost sockets: 500 sockets each send a hostile frame and drop without a goodbye, against a real Daphne.

Many of their consumers are still busy when their client vanishes (a database read; an audio offer
waiting 5 s for a media worker that stopped answering but still looks alive); Daphne then cancels them
after its application close timeout (1 s here instead of 10), so `disconnect()` never runs. The room's
count and presence must still come back to the people who are really there, within the presence TTL,
and the hostile frames get their documented answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from live import presence
from rooms.models import Space
from tests.live.daphnes import PRESENCE_TTL, Recorder, eventually, start_daphne
from tests.live.roomkit import live_space
from tests.servers import RoomSocket

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SOCKETS = 500
STALLED_WORKER = "ghost-test-stalled-worker"
STABLE_FOR = 1.5  # seconds the count must hold to count as settled
NESTED = "[" * 2000 + "]" * 2000  # 4 KB of brackets: under the frame limit, far over the nesting limit
HOSTILE = [
    NESTED,
    json.dumps({"action": "react", "emoji": "x" * 17000}),  # over 16 KiB
    b"\x00\xff binary",
    "{not json",
    json.dumps({"action": "drop_tables"}),
    json.dumps({"action": "snapshot"}),  # a database read, then gone before the answer
    json.dumps({"action": "webrtc_offer", "sdp": "v=0\r\n", "type": "offer"}),  # waits for a media worker
]


async def test_hostile_frames_from_500_dropped_sockets_leave_no_ghost(tmp_path, alice, carol):
    space = await database_sync_to_async(live_space)(alice)
    store = presence.backend()
    await store.clear(space.pk)  # an earlier test database's room of the same id
    env = {"SPACES_MAX_SOCKETS_PER_IP": "2000", "SPACES_MESSAGES_PER_USER": "0"}  # caps are another test's
    daphne = start_daphne(tmp_path / "daphne.log", env=env, args=("--application-close-timeout", "1"))
    present: list[Recorder] = []
    stalled = asyncio.get_running_loop().create_task(_stalled_media_worker())
    try:
        await asyncio.to_thread(daphne.wait_listening)
        url = daphne.room_socket_url(space.pk)
        host = Recorder(await RoomSocket.open(url, alice))
        present = [host, Recorder(await RoomSocket.open(url, carol))]
        present += [Recorder(await RoomSocket.open(url)) for _ in range(2)]
        await eventually(lambda: _count(host) == 4, 10, "four people in the room")

        await _hostile_frames_are_answered(url)

        client = redis.asyncio.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        peak = asyncio.get_running_loop().create_task(_peak_count(store, space.pk))
        started = time.monotonic()
        outcomes = await asyncio.gather(*(_hit_and_run(url, HOSTILE[i % len(HOSTILE)]) for i in range(SOCKETS)))
        assert sum(outcomes) >= SOCKETS * 0.95, f"only {sum(outcomes)} of {SOCKETS} sockets were opened"
        dropped_at = time.monotonic()
        # What this Daphne reports (the presence hash in Redis) comes back to the four who stayed, and stays.
        await eventually(lambda: _stable(store, space.pk, 4), PRESENCE_TTL + 10, "the count back to the four present")
        took = time.monotonic() - dropped_at - STABLE_FOR
        peak.cancel()
        highest = await peak
        await eventually(lambda: _count(host) == 4, 5, "the host is told 4")
        killed = daphne.log.read_text(errors="replace").count("took too long to shut down and was killed")
        audience = await asyncio.to_thread(presence.read_audience, space.pk)
        print(
            f"\n{SOCKETS} hostile sockets opened and dropped in {dropped_at - started:.1f} s (at most {highest} "
            f"counted at once; {killed} consumers cancelled by Daphne); count back to 4 after {took:.1f} s"
        )
        assert highest > 100  # the storm was there
        assert killed > 0  # and so was the case disconnect() never sees
        assert took <= PRESENCE_TTL
        await client.aclose()
        assert audience.user_ids == {alice.pk, carol.pk} and audience.anonymous == 2
        await eventually(lambda: _db_count(space.pk, 4), 10, "the home page's count back to 4")
        assert not any(r.closed for r in present)
        assert "Exception inside application" not in daphne.log.read_text(errors="replace")
    finally:
        stalled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stalled
        for recorder in present:
            await recorder.stop()
        daphne.kill()
        await store.clear(space.pk)
        await store.close()
        await database_sync_to_async(connections.close_all)()


async def _stalled_media_worker() -> None:
    """A media worker's heartbeat (media.placement) whose inbox nobody reads: offers wait for its answer."""
    from media.placement import Placement

    placement = Placement(settings.REDIS_URL, settings.SPACES_MEDIA_REDIS_PREFIX)
    try:
        while True:
            await placement.heartbeat(STALLED_WORKER, "media-stalled-inbox", {"peers": 0, "rooms": 0, "cpu": 0.0})
            await asyncio.sleep(1)
    finally:
        await placement.retire(STALLED_WORKER, [])
        await placement.close()


async def _hostile_frames_are_answered(url: str) -> None:
    """One of each, read properly: an error for each, and for the oversized frame a close with 4009."""
    sock = await RoomSocket.open(url)
    await sock.next("snapshot")
    await sock.websocket.send(NESTED)
    assert (await sock.next("error"))["reason"] == "The message is nested too deeply."
    await sock.websocket.send(b"\x00\xff binary")
    assert (await sock.next("error"))["reason"] == "Binary frames aren't part of the protocol."
    await sock.websocket.send(HOSTILE[1])
    assert (await sock.next("error"))["reason"] == "The message is larger than 16 KiB."
    with pytest.raises(ConnectionClosed):
        await sock.next(timeout=5)
    assert sock.websocket.close_code == 4009


async def _hit_and_run(url: str, frame: str | bytes) -> bool:
    """Open, wait for the snapshot, send one hostile frame, and vanish: no close frame, the TCP connection
    aborted while the server may still be working on the frame."""
    try:
        websocket = await asyncio.wait_for(connect(url, origin="http://127.0.0.1", compression=None), 20)
        await asyncio.wait_for(websocket.recv(), 20)
    except (OSError, TimeoutError, WebSocketException):
        return False
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(frame)
        await asyncio.sleep(0.2)
    websocket.transport.abort()
    return True


def _count(recorder: Recorder) -> int | None:
    presences = recorder.events("presence")
    return presences[-1]["listener_count"] if presences else None


async def _peak_count(store, space_id: int) -> int:
    highest = 0
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            highest = max(highest, await store.total(space_id))
            await asyncio.sleep(0.1)
    return highest


async def _stable(store, space_id: int, expected: int) -> bool:
    """The reported count is `expected` now and still after STABLE_FOR seconds."""
    if await store.total(space_id) != expected:
        return False
    await asyncio.sleep(STABLE_FOR)
    return await store.total(space_id) == expected


async def _db_count(space_id: int, expected: int) -> bool:
    count = await database_sync_to_async(lambda: Space.objects.get(pk=space_id).listener_count)()
    return count == expected
