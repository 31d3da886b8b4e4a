"""The production layout records too: Daphne and `runmedia` workers as separate processes on PostgreSQL and
Redis, a real Celery worker finalising. The worker hosting a recorded room is killed mid-Space; the room
moves to another worker, which records on in a new segment; the replay plays both parts, in order, with the
outage as silence between them."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from media.placement import DEFAULT_PREFIX
from recordings.models import Recording
from rooms.models import Participant
from tests.live.roomkit import live_space, put_on_stage
from tests.media.peers import ClientPeer
from tests.media.test_runmedia_redis import offer_until_answered, worker_id_of
from tests.recordings.audio_checks import decode, spectrum_peaks, tones_in
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, RoomSocket, Server, free_port

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
FIRST_TONE, SECOND_TONE = 440.0, 660.0


@pytest.fixture
def processes(tmp_path, recordings_storage):
    started: list[Server] = []
    env = {
        "REDIS_URL": settings.REDIS_URL,
        "SPACES_MEDIA_IN_PROCESS": "False",
        "LOG_LEVEL": "WARNING",
        "SPACES_RECORDINGS_DIR": str(recordings_storage),
        "SPACES_RECORDING_SPOOL_DIR": str(tmp_path / "spool"),
        "SPACES_RECORDING_CHUNK_SECONDS": "1",
    }

    def start(args: list[str], name: str, port: int | None = None) -> Server:
        server = Server(args, tmp_path / f"{name}.log", port=port, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(timeout=2)


async def ready(space_id: int, timeout: float = 60) -> Recording:
    deadline = time.monotonic() + timeout
    while True:
        recording = await database_sync_to_async(Recording.objects.select_related("space").get)(space_id=space_id)
        if recording.state not in (Recording.State.RECORDING, Recording.State.FINALISING):
            return recording
        assert time.monotonic() < deadline, f"no replay: {recording.state}"
        await asyncio.sleep(0.5)


async def test_a_crashed_worker_loses_no_part_of_the_replay(processes, placement, celery_worker, alice):
    def arrange():
        space = live_space(alice, record=True)
        put_on_stage(space, alice, Participant.Role.HOST, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    await placement.redis.delete(f"{DEFAULT_PREFIX}:room:{space.pk}")
    port = free_port()
    daphne = processes(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces_site.asgi:application"], "daphne", port
    )
    first = processes(["manage.py", "runmedia"], "runmedia-1")
    daphne.wait_listening()
    await worker_id_of(placement, first)

    host = await RoomSocket.open(daphne.room_socket_url(space.pk), alice)
    peers: list[ClientPeer] = []
    try:
        await host.next("snapshot")
        peers.append(await offer_until_answered(host, FIRST_TONE, time.monotonic() + 20))
        await asyncio.sleep(4.0)  # the first part, recorded on the first worker

        second = processes(["manage.py", "runmedia"], "runmedia-2")
        await worker_id_of(placement, second)
        first.kill()
        # The host's browser reconnects (audio.js offers again); it now sings another tone.
        peers.append(await offer_until_answered(host, SECOND_TONE, time.monotonic() + 20))
        await asyncio.sleep(4.0)  # the second part, on the second worker

        await host.send(action="end_space")
        await host.next("space_ended", timeout=10)
        recording = await ready(space.pk)
    finally:
        for peer in peers:
            await peer.close()
        await host.close()
        await placement.redis.delete(f"{DEFAULT_PREFIX}:room:{space.pk}")

    assert recording.state == Recording.State.READY, recording.state
    from django.core.files.storage import storages

    with storages["recordings"].open(recording.audio, "rb") as replay:
        pcm, _ = decode(replay.read())
    seconds = len(pcm) / 48000
    live = (recording.space.ended_at - recording.space.started_at).total_seconds()
    assert abs(seconds - live) < 1.5, (seconds, live)

    # Half-second windows: the first tone, then (after the outage's silence) the second, never mixed up.
    windows = [
        tones_in(pcm, start / 2, start / 2 + 0.5, (FIRST_TONE, SECOND_TONE)) for start in range(int(seconds * 2))
    ]
    first_part = [i for i, w in enumerate(windows) if w[FIRST_TONE] > 1500 and w[SECOND_TONE] < 300]
    second_part = [i for i, w in enumerate(windows) if w[SECOND_TONE] > 1500 and w[FIRST_TONE] < 300]
    assert len(first_part) >= 4, (windows, spectrum_peaks(pcm))
    assert len(second_part) >= 4, windows
    assert max(first_part) < min(second_part)


async def test_listen_ogg_reaches_a_room_on_a_runmedia_worker(processes, placement, alice):
    """Daphne has no engine here: it asks the room's worker for its packets over Redis."""
    import aiohttp

    from live import presence

    def arrange():
        space = live_space(alice)
        put_on_stage(space, alice, Participant.Role.HOST, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    await placement.redis.delete(f"{DEFAULT_PREFIX}:room:{space.pk}")
    port = free_port()
    daphne = processes(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces_site.asgi:application"], "daphne", port
    )
    worker = processes(["manage.py", "runmedia"], "runmedia")
    daphne.wait_listening()
    await worker_id_of(placement, worker)
    host = await RoomSocket.open(daphne.room_socket_url(space.pk), alice)
    peer = None
    body = bytearray()
    try:
        await host.next("snapshot")
        peer = await offer_until_answered(host, FIRST_TONE, time.monotonic() + 20)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{daphne.base_url}/spaces/{space.pk}/listen.ogg") as response:
                assert response.status == 200 and response.headers["Content-Type"] == "audio/ogg"
                deadline = time.monotonic() + 6
                while time.monotonic() < deadline:
                    body += await asyncio.wait_for(response.content.read(4096), 5)
                counted = await presence.backend().total(space.pk)
    finally:
        if peer is not None:
            await peer.close()
        await host.close()
        await placement.redis.delete(f"{DEFAULT_PREFIX}:room:{space.pk}")
    assert counted >= 1  # the HTTP listener (and the host's socket) in the room's presence
    pcm, _ = decode(bytes(body))
    assert len(pcm) / 48000 > 3
    # The last two seconds (before the worker saw the want key, the stream played silence).
    heard = tones_in(pcm, len(pcm) / 48000 - 2.0, len(pcm) / 48000, (FIRST_TONE,))
    assert heard[FIRST_TONE] > 1500, spectrum_peaks(pcm[-96000:])
