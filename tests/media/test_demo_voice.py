"""The demo Space speaks (issue 11): a recorded voice looped by the media engine as one demo speaker, only
in the demo Space, and listener counts that come from presence alone."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from live import hub
from media import client as media_client
from media.engine import MediaEngine
from media.mixer import rms
from rooms.models import Space
from tests.live.roomkit import join, receive_event
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer, Recorder

SPEECH_RMS = 300.0  # about -40 dBFS over 100 ms: a voice, far above Opus noise or silence
SPACE, ALAN = 5, 3


def first_speech_at(recorder: Recorder, after: float) -> float | None:
    """Arrival time of the first 100 ms (five packets) whose level is speech."""
    chunks = [(at, pcm) for at, pcm in recorder.chunks if at >= after]
    for i in range(len(chunks) - 4):
        if rms(np.concatenate([pcm for _, pcm in chunks[i : i + 5]])) > SPEECH_RMS:
            return chunks[i][0]
    return None


def loudness(recorder: Recorder, start: float, end: float) -> float:
    return rms(recorder.audio_between(start, end))


@pytest.fixture
async def in_process(settings):
    settings.SPACES_MEDIA_IN_PROCESS = True
    yield
    await media_client.shutdown()
    await hub.shutdown()


@pytest.mark.django_db(transaction=True)
async def test_a_newcomer_to_the_live_demo_hears_a_voice_within_3_seconds(in_process):
    await database_sync_to_async(call_command)("demo")
    demo = await database_sync_to_async(lambda: Space.objects.get(state=Space.State.LIVE))()
    assert demo.listener_count == 0  # nobody is listening yet, and the demo does not pretend otherwise

    opened = time.monotonic()
    socket, snapshot = await join(demo.pk)
    assert snapshot["listener_count"] <= 1
    peer = ClientPeer()
    try:

        async def negotiate(sdp: str, sdp_type: str) -> dict:
            await socket.send_to(text_data=json.dumps({"action": "webrtc_offer", "sdp": sdp, "type": sdp_type}))
            answer = await receive_event(socket, "webrtc_answer", timeout=5)
            return {"sdp": answer["sdp"], "type": answer["type"]}

        await peer.connect(negotiate)
        speaking = await receive_event(socket, "speaking", timeout=3)
        deadline = opened + 3.0
        while first_speech_at(peer.recorder, opened) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        heard_at = first_speech_at(peer.recorder, opened)
        assert heard_at is not None and heard_at - opened < 3.0, loudness(peer.recorder, opened, time.monotonic())
        # The rings show who speaks: the demo's recorded speaker.
        assert str(demo.demo_voice_id) in speaking["levels"]
    finally:
        await peer.close()
        await socket.disconnect()


@pytest.fixture
async def engine():
    policy = StubPolicy(audible={ALAN})
    engine = MediaEngine(policy)
    peers: list[ClientPeer] = []

    async def listen() -> ClientPeer:
        peer = ClientPeer()
        peers.append(peer)

        async def negotiate(sdp: str, sdp_type: str) -> dict:
            return await engine.negotiate(SPACE, None, sdp, sdp_type)

        await peer.connect(negotiate)
        return peer

    yield engine, policy, listen
    for peer in peers:
        await peer.close()
    await engine.close()


async def test_a_space_that_is_not_the_demo_plays_no_voice(engine):
    _engine, _policy, listen = engine
    listener = await listen()
    start = time.monotonic()
    await asyncio.sleep(1.5)
    assert loudness(listener.recorder, start, time.monotonic()) < 30


async def test_the_demo_voice_stops_when_its_speaker_is_muted(engine):
    engine_, policy, listen = engine
    policy.demo_voice = ALAN
    listener = await listen()
    await asyncio.sleep(2.0)
    assert loudness(listener.recorder, 0, time.monotonic()) > SPEECH_RMS

    policy.audible = set()
    await engine_.refresh_room(SPACE)
    muted = time.monotonic() + 0.3  # what was in flight
    await asyncio.sleep(1.5)
    assert loudness(listener.recorder, muted, time.monotonic()) < 30
