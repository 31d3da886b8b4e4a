"""The engine alone, with real aiortc peers on loopback: who hears what."""

from __future__ import annotations

import asyncio
import time

import pytest

from media.engine import MediaEngine
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude

SPACE = 7
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
A_TONE, B_TONE, INTRUDER_TONE = 440.0, 660.0, 880.0
# Each tone is sent at amplitude 6000; "present" means clearly above Opus artefacts.
PRESENT = 1500.0
ABSENT = 300.0


def negotiator(engine: MediaEngine, user_id: int | None):
    async def negotiate(sdp: str, sdp_type: str) -> dict:
        return await engine.negotiate(SPACE, user_id, sdp, sdp_type)

    return negotiate


@pytest.fixture
async def room():
    policy = StubPolicy(publishers={ALICE, BOB})
    engine = MediaEngine(policy)
    peers: list[ClientPeer] = []

    async def join(user_id: int | None, tone: float | None = None, **kwargs) -> ClientPeer:
        peer = ClientPeer(tone, **kwargs)
        peers.append(peer)
        await peer.connect(negotiator(engine, user_id))
        return peer

    yield engine, policy, join
    for peer in peers:
        await peer.close()
    await engine.close()


async def settle(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return time.monotonic()


async def test_listener_hears_both_speakers_and_each_speaker_hears_only_the_other(room):
    engine, policy, join = room
    alice = await join(ALICE, A_TONE)
    bob = await join(BOB, B_TONE)
    listener = await join(None)
    start = await settle(0.6)
    end = await settle(0.8)

    heard = listener.recorder.audio_between(start, end)
    assert tone_amplitude(heard, A_TONE) > PRESENT, spectrum_peaks(heard)
    assert tone_amplitude(heard, B_TONE) > PRESENT, spectrum_peaks(heard)

    alice_hears = alice.recorder.audio_between(start, end)
    assert tone_amplitude(alice_hears, B_TONE) > PRESENT, spectrum_peaks(alice_hears)
    assert tone_amplitude(alice_hears, A_TONE) < ABSENT, spectrum_peaks(alice_hears)

    bob_hears = bob.recorder.audio_between(start, end)
    assert tone_amplitude(bob_hears, A_TONE) > PRESENT, spectrum_peaks(bob_hears)
    assert tone_amplitude(bob_hears, B_TONE) < ABSENT, spectrum_peaks(bob_hears)


async def test_muting_a_speaker_silences_them_within_200_ms(room):
    engine, policy, join = room
    await join(ALICE, A_TONE)
    await join(BOB, B_TONE)
    listener = await join(None)
    await settle(0.6)

    muted_at = time.monotonic()
    policy.audible.discard(BOB)
    await engine.refresh_room(SPACE)
    end = await settle(0.6)

    last_660 = listener.recorder.last_time_with(B_TONE, after=muted_at - 0.1, threshold=PRESENT / 2)
    assert last_660 is not None, "660 Hz was not playing before the mute"
    assert last_660 - muted_at < 0.200
    after = listener.recorder.audio_between(muted_at + 0.2, end)
    assert tone_amplitude(after, B_TONE) < ABSENT, spectrum_peaks(after)
    assert tone_amplitude(after, A_TONE) > PRESENT, spectrum_peaks(after)


async def test_a_listener_who_tries_to_publish_is_not_heard(room):
    engine, policy, join = room
    await join(ALICE, A_TONE)
    intruder = await join(CAROL, INTRUDER_TONE)  # offers sendrecv with a live tone
    listener = await join(DAVE)
    start = await settle(0.5)
    end = await settle(0.6)

    # The answer made the intruder's transceiver receive-only, and the engine holds no input for it.
    assert intruder.pc.getTransceivers()[0].currentDirection == "recvonly"
    assert all(p.speaker is None for p in engine.rooms[SPACE].peers.values() if p.user_id == CAROL)
    heard = listener.recorder.audio_between(start, end)
    assert tone_amplitude(heard, A_TONE) > PRESENT, spectrum_peaks(heard)
    assert tone_amplitude(heard, INTRUDER_TONE) < ABSENT, spectrum_peaks(heard)


async def test_a_muted_speaker_who_keeps_sending_is_not_heard(room):
    engine, policy, join = room
    policy.audible.discard(BOB)
    await join(ALICE, A_TONE)
    bob = await join(BOB, B_TONE)
    listener = await join(None)
    start = await settle(0.5)
    end = await settle(0.6)

    assert bob.pc.getTransceivers()[0].currentDirection == "sendrecv"
    heard = listener.recorder.audio_between(start, end)
    assert tone_amplitude(heard, B_TONE) < ABSENT, spectrum_peaks(heard)
    bob_input = next(p.speaker for p in engine.rooms[SPACE].peers.values() if p.user_id == BOB)
    assert bob_input.decoded == 0 and bob_input.dropped > 0


async def test_ending_the_room_closes_every_peer_connection(room):
    engine, policy, join = room
    alice = await join(ALICE, A_TONE)
    listener = await join(None)

    await engine.end_room(SPACE)
    for _ in range(40):
        if alice.pc.connectionState == listener.pc.connectionState == "closed":
            break
        await asyncio.sleep(0.05)

    assert SPACE not in engine.rooms
    # The server's DTLS close_notify reaches both clients: their connections end, not just go quiet.
    assert alice.pc.connectionState == "closed"
    assert listener.pc.connectionState == "closed"
