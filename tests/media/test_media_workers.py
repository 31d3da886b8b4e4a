"""Media workers over Redis: rooms are placed on a separate `runmedia`-style process, signalling goes
over the channel layer, and a room whose worker dies is placed again and its audio comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from media import client as media_client
from media.placement import Placement
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SPACE = 4242
SPEAKER = 1


@pytest.fixture
def prefix(settings):
    # A namespace of our own, so workers of other test runs on the same Redis are never chosen.
    value = f"test-media-{uuid.uuid4().hex[:8]}"
    settings.SPACES_MEDIA_REDIS_PREFIX = value
    settings.SPACES_MEDIA_IN_PROCESS = False
    return value


@pytest.fixture
async def workers(prefix):
    env = {**os.environ, "SPACES_MEDIA_REDIS_PREFIX": prefix, "STUB_PUBLISHERS": str(SPEAKER)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.media.stub_worker"], cwd=ROOT, env=env, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    placement = Placement(os.environ["REDIS_URL"], prefix)
    deadline = time.monotonic() + 20
    while len(await placement.live_workers()) < 2:
        assert time.monotonic() < deadline, "media workers did not start"
        await asyncio.sleep(0.2)
    yield procs, placement
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    await placement.close()
    await media_client.shutdown()


async def connect(user_id: int | None, tone: float | None, deadline: float) -> ClientPeer:
    """What audio.js does after a network blip: offer again until a worker answers."""
    while True:
        peer = ClientPeer(tone)

        async def negotiate(sdp: str, sdp_type: str) -> dict:
            return await media_client.negotiate(SPACE, user_id, sdp, sdp_type)

        try:
            await peer.connect(negotiate, timeout=5)
            return peer
        except (media_client.MediaError, TimeoutError):
            await peer.close()
            assert time.monotonic() < deadline, "could not reconnect"
            await asyncio.sleep(0.5)


async def hears_440(listener: ClientPeer) -> bool:
    start = time.monotonic()
    await asyncio.sleep(0.6)
    heard = listener.recorder.audio_between(start + 0.2, time.monotonic())
    return tone_amplitude(heard, 440.0) > 1500, spectrum_peaks(heard)


async def test_a_room_moves_to_another_worker_when_its_worker_dies(workers, prefix):
    procs, placement = workers
    deadline = time.monotonic() + 30
    speaker = await connect(SPEAKER, 440.0, deadline)
    listener = await connect(None, None, deadline)
    peers = [speaker, listener]
    try:
        ok, peaks = await hears_440(listener)
        assert ok, peaks

        hosting = await placement.redis.get(f"{prefix}:room:{SPACE}")
        ids = [proc.stdout.readline().decode().strip() for proc in procs]
        victim = procs[ids.index(hosting)]
        victim.kill()
        killed_at = time.monotonic()

        speaker = await connect(SPEAKER, 440.0, killed_at + 20)
        listener = await connect(None, None, killed_at + 20)
        peers += [speaker, listener]
        ok, peaks = await hears_440(listener)
        assert ok, peaks
        # Heartbeats expire after 3 s; one unanswered offer waits 5 s: well under 15 s in all.
        assert time.monotonic() - killed_at < 15
        survivor = ids[1 - ids.index(hosting)]
        assert await placement.redis.get(f"{prefix}:room:{SPACE}") == survivor
    finally:
        for peer in peers:
            await peer.close()
