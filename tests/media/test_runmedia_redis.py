"""The production layout of room audio: a Daphne process and `manage.py runmedia` workers, all separate
processes on Redis and the test's PostgreSQL database. The room's people are real websocket clients and
real aiortc peers: consumer -> media.client -> channel layer -> worker -> aiortc. When the worker
hosting a room dies, the room is placed on another one and the audio comes back once the clients offer
again (as static/rooms/audio.js does after ICE fails)."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from media.placement import DEFAULT_PREFIX, Placement
from rooms.models import Participant
from tests.live.roomkit import live_space, put_on_stage
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, OfferRefused, RoomSocket, Server, free_port

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

TONE = 440.0
PRESENT, ABSENT = 1500.0, 300.0
# Daphne and runmedia both use the default placement prefix (neither is configured otherwise here).
PREFIX = DEFAULT_PREFIX


def server_env() -> dict:
    return {"REDIS_URL": settings.REDIS_URL, "SPACES_MEDIA_IN_PROCESS": "False", "LOG_LEVEL": "WARNING"}


@pytest.fixture
def processes(tmp_path):
    """Start subprocesses on the test database; every one is gone when the test ends."""
    started: list[Server] = []

    def start(args: list[str], name: str, port: int | None = None) -> Server:
        server = Server(args, tmp_path / f"{name}.log", port=port, env=server_env())
        started.append(server)
        return server

    yield start
    for server in started:
        # runmedia sometimes hangs on SIGTERM (a channels-redis receive that outlives its cancellation,
        # see the report on socket_timeout); this test is not about shutdown, so don't wait long.
        server.stop(timeout=2)


async def worker_id_of(placement: Placement, worker: Server, timeout: float = 20) -> str:
    """The id a runmedia process heartbeats under (it carries the process id)."""
    deadline = time.monotonic() + timeout
    while True:
        for record in await placement.live_workers():
            if f"-{worker.pid}-" in record["id"]:
                return record["id"]
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"runmedia did not come up:\n{worker.output()}")
        await asyncio.sleep(0.2)


async def offer_until_answered(socket: RoomSocket, tone: float | None, deadline: float) -> ClientPeer:
    """What audio.js does when its connection fails: a fresh peer connection, offered again, with backoff."""
    while True:
        peer = ClientPeer(tone)
        try:
            await peer.connect(socket.negotiate, timeout=5)
            return peer
        except (OfferRefused, TimeoutError) as exc:
            await peer.close()
            assert time.monotonic() < deadline, f"no answer before the deadline: {exc!r}"
            await asyncio.sleep(0.5)


async def tone_level(listener: ClientPeer, seconds: float = 0.6, *, silence: bool = False) -> tuple[float, list[float]]:
    start, packets = time.monotonic(), listener.recorder.packets
    await asyncio.sleep(seconds)
    sound = listener.recorder.audio_between(start, time.monotonic())
    if silence:  # a silent room sends its silence every 400 ms (as Opus DTX does): alive if anything came
        assert listener.recorder.packets > packets, "the listener's connection carries nothing at all"
    else:
        assert sound.size > seconds * 48000 / 2, "the listener's connection carries no audio at all"
    return tone_amplitude(sound, TONE), spectrum_peaks(sound)


async def falls_silent(listener: ClientPeer, within: float) -> None:
    """The tone stops within `within` seconds (the engine re-reads who is audible on the room's event,
    and every 2 s whatever happens) and stays away."""
    deadline = time.monotonic() + within
    while (level := await tone_level(listener, 0.5, silence=True))[0] >= ABSENT:
        assert time.monotonic() < deadline, f"still heard: {level}"
    level, peaks = await tone_level(listener, silence=True)
    assert level < ABSENT, peaks


async def test_runmedia_carries_a_room_and_another_worker_takes_it_over_after_a_crash(processes, placement, alice):
    def arrange():
        space = live_space(alice)
        put_on_stage(space, alice, Participant.Role.HOST, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    room_key = f"{PREFIX}:room:{space.pk}"
    await placement.redis.delete(room_key)  # a room of the same id from an earlier test database

    port = free_port()
    daphne_args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces_site.asgi:application"]
    daphne = processes(daphne_args, "daphne", port)
    first = processes(["manage.py", "runmedia"], "runmedia-1")
    daphne.wait_listening()
    first_id = await worker_id_of(placement, first)

    host = await RoomSocket.open(daphne.room_socket_url(space.pk), alice)
    audience = await RoomSocket.open(daphne.room_socket_url(space.pk))
    peers: list[ClientPeer] = []
    try:
        await host.next("snapshot")
        await audience.next("snapshot")
        deadline = time.monotonic() + 20
        peers.append(await offer_until_answered(host, TONE, deadline))
        peers.append(listener := await offer_until_answered(audience, None, deadline))
        assert await placement.redis.get(room_key) == first_id
        level, peaks = await tone_level(listener)
        assert level > PRESENT, peaks

        # A second worker joins; the first one crashes.
        second = processes(["manage.py", "runmedia"], "runmedia-2")
        second_id = await worker_id_of(placement, second)
        assert await placement.redis.get(room_key) == first_id  # a placed room stays where it is
        first.kill()
        killed_at = time.monotonic()

        # The clients' connections are dead; they offer again and the room lands on the survivor.
        deadline = killed_at + 20
        peers.append(await offer_until_answered(host, TONE, deadline))
        peers.append(listener := await offer_until_answered(audience, None, deadline))
        assert await placement.redis.get(room_key) == second_id
        level, peaks = await tone_level(listener)
        assert level > PRESENT, peaks
        assert time.monotonic() - killed_at < 15

        # The new worker follows the room's events: the host mutes herself and is silent.
        await host.send(action="mute")
        await host.next("speaker_muted")
        await falls_silent(listener, within=3)
        assert daphne.process.poll() is None and second.process.poll() is None
    finally:
        for peer in peers:
            await peer.close()
        await host.close()
        await audience.close()
        await placement.redis.delete(room_key)
