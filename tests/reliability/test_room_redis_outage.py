"""Redis stops under a live room, then comes back empty: the room degrades, never crashes, and resyncs.

A Daphne on the test database and a Redis of its own (a redis-server on a free port that the test stops
and starts). While Redis is down: open sockets stay open, a new socket still gets its snapshot (its
hub could not join the room's group), actions still commit, logging out still answers. When Redis is
back (with no groups and no presence left), the hub joins its groups again, every socket of a room
that moved on meanwhile gets a fresh snapshot, and deltas and presence flow again.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from channels.db import database_sync_to_async
from django.db import connections
from websockets.asyncio.client import connect

from tests.jobs.procs import Broker
from tests.live.daphnes import Recorder, eventually, start_daphne
from tests.live.roomkit import live_space, session_cookie
from tests.servers import RoomSocket

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ORIGIN = "http://127.0.0.1"


async def test_a_redis_outage_degrades_then_the_room_resyncs(tmp_path, alice, bob, carol, make_user):
    dave, erin = await database_sync_to_async(lambda: (make_user("dave"), make_user("erin")))()
    space = await database_sync_to_async(live_space)(alice)
    other_space = await database_sync_to_async(live_space)(dave, title="Second room")
    redis_server = Broker(tmp_path)
    await asyncio.to_thread(redis_server.start)
    daphne = start_daphne(tmp_path / "daphne.log", env={"REDIS_URL": redis_server.url})
    recorders: list[Recorder] = []
    try:
        await asyncio.to_thread(daphne.wait_listening)
        url = daphne.room_socket_url(space.pk)
        host = Recorder(await RoomSocket.open(url, alice))
        # carol's browser: one session for her socket and for the log-out form.
        carol_cookie = await database_sync_to_async(session_cookie)(carol)
        listener = Recorder(RoomSocket(await connect(url, origin=ORIGIN, additional_headers={"Cookie": carol_cookie})))
        recorders = [host, listener]
        await eventually(lambda: all(r.events("snapshot") for r in recorders), 10, "snapshots")
        await eventually(lambda: _count(host) == 2, 10, "presence counts both")

        await asyncio.to_thread(redis_server.stop)
        down_at = time.monotonic()
        # A socket joining an existing room, and the first sockets of another room (its group can't be
        # joined), still get their snapshots.
        late = Recorder(await RoomSocket.open(url, bob))
        other_host = Recorder(await RoomSocket.open(daphne.room_socket_url(other_space.pk), dave))
        other_listener = Recorder(await RoomSocket.open(daphne.room_socket_url(other_space.pk), erin))
        recorders += [late, other_host, other_listener]
        await eventually(lambda: all(r.events("snapshot") for r in recorders), 10, "snapshots while Redis is down")
        # Actions commit; their deltas are lost for now. Logging out answers as usual.
        for sock in (host, other_host):
            await _toggle_mute(sock)
        assert await asyncio.to_thread(_log_out_over_http, daphne.base_url, carol_cookie) == 302
        await asyncio.sleep(2)
        assert not any(r.closed for r in recorders), [r.close_code for r in recorders]

        snapshots_before = {id(r): len(r.events("snapshot")) for r in recorders}
        await asyncio.to_thread(redis_server.start)
        up_at = time.monotonic()
        # Back in their groups, the hubs see both rooms moved on and resync every socket; the log-out they
        # missed closes carol's socket.
        stayed = [host, late, other_host, other_listener]
        await eventually(
            lambda: all(len(r.events("snapshot")) > snapshots_before[id(r)] for r in stayed),
            20,
            "a fresh snapshot on every socket",
        )
        resynced_in = time.monotonic() - up_at
        for sock in (host, other_host):
            first, fresh = sock.events("snapshot")[0], sock.events("snapshot")[-1]
            assert fresh["me"]["is_muted"] != first["me"]["is_muted"]  # the change whose delta was lost
        await eventually(lambda: listener.closed, 10, "the socket of the user who logged out closes")
        assert listener.close_code == 4001
        # Deltas flow again, to the sockets that joined during the outage too.
        await _toggle_mute(other_host)
        await _toggle_mute(host)
        await eventually(lambda: _muting(other_listener), 10, "a delta reaches a socket that joined during the outage")
        await eventually(lambda: _muting(late), 10, "a delta reaches the other one")
        await eventually(lambda: _count(host) == 2, 10, "presence counts again")
        print(
            f"\nRedis down {up_at - down_at:.1f} s: no socket closed, snapshots and actions kept working; "
            f"back → every socket resynced in {resynced_in:.2f} s"
        )
        assert not any(r.closed for r in stayed)
    finally:
        for recorder in recorders:
            await recorder.stop()
        daphne.kill()
        await asyncio.to_thread(redis_server.stop)
        await database_sync_to_async(connections.close_all)()


async def _toggle_mute(recorder: Recorder) -> None:
    muted = recorder.events("snapshot")[-1]["me"]["is_muted"]
    await recorder.sock.send(action="unmute" if muted else "mute")


def _muting(recorder: Recorder) -> bool:
    return bool(recorder.events("speaker_muted") or recorder.events("speaker_unmuted"))


def _count(recorder: Recorder) -> int | None:
    presences = recorder.events("presence")
    return presences[-1]["listener_count"] if presences else None


def _log_out_over_http(base_url: str, cookie: str) -> int:
    """POST the log-out form to the Daphne with this session cookie, as a browser would."""
    from django.conf import settings

    http = requests.Session()
    name, _, value = cookie.partition("=")
    http.cookies.set(name, value)
    http.get(f"{base_url}/", timeout=10)
    token = http.cookies.get(settings.CSRF_COOKIE_NAME, "")
    response = http.post(
        f"{base_url}/accounts/logout/", headers={"X-CSRFToken": token}, allow_redirects=False, timeout=10
    )
    return response.status_code
