"""What a room does when few or none of its voices talk (issue 14): Opus DTX offered, a lone talker's packets
forwarded as they are, the switch back to mixing without a click, and a silent room that sends almost nothing."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from media.demo_voice import bot_peer
from media.engine import MediaEngine
from media.mixer import OpusEncoder
from media.room import DTX_EVERY_TICKS, Room
from media.speaker import FRAME_SAMPLES, SpeakerInput
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude

SPACE = 11
ALICE, BOB = 1, 2
A_TONE, B_TONE = 440.0, 660.0
PRESENT, ABSENT = 1500.0, 300.0
# Two tones of amplitude 6000 change by at most 2π·f/48000·6000 per sample: 345 + 518 = 863 (mixing all along
# measured 879). Switching to a cold encoder measured 1289: a click. Priming the encoder measured 682.
CLICK = 1000


@pytest.fixture
async def room():
    engine = MediaEngine(StubPolicy(publishers={ALICE, BOB}))
    peers: list[ClientPeer] = []

    async def join(user_id: int | None, tone: float | None = None) -> ClientPeer:
        peer = ClientPeer(tone)
        peers.append(peer)

        async def negotiate(sdp: str, sdp_type: str) -> dict:
            return await engine.negotiate(SPACE, user_id, sdp, sdp_type)

        await peer.connect(negotiate)
        return peer

    yield engine, join
    for peer in peers:
        await peer.close()
    await engine.close()


async def test_the_answer_asks_browsers_for_opus_dtx(room):
    engine, join = room
    peer = ClientPeer(send=True)
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    answer = await engine.negotiate(SPACE, ALICE, peer.pc.localDescription.sdp, "offer")
    await peer.close()
    assert any(line.startswith("a=fmtp:") and "usedtx=1" in line for line in answer["sdp"].splitlines())


async def test_a_lone_talker_is_forwarded_without_a_mix_or_an_encode_and_does_not_hear_themself(room):
    engine, join = room
    alice = await join(ALICE, A_TONE)
    listener = await join(None)
    await asyncio.sleep(0.5)
    encoder = engine.rooms[SPACE].encoder
    encoded_before, start = encoder.frames, time.monotonic()
    await asyncio.sleep(1.0)

    heard = listener.recorder.audio_between(start, time.monotonic())
    assert tone_amplitude(heard, A_TONE) > PRESENT, spectrum_peaks(heard)
    # 50 ticks, and the room's encoder ran for almost none of them (only ticks that had to conceal a late packet).
    assert encoder.frames - encoded_before < 10
    assert tone_amplitude(alice.recorder.audio_between(start, time.monotonic()), A_TONE) < ABSENT


class Heard:
    """Stands in for a recording tap (media.recorder.RoomTap's interface): keeps each tick's packet."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def tick(self, frames, payload: bytes) -> None:
        self.payloads.append(payload)

    def note_levels(self, levels) -> None:
        pass


def tone_packets(frequency: float, count: int) -> list[bytes]:
    """What a browser's mono Opus encoder sends for a steady tone, 20 ms a packet."""
    encoder, packets = OpusEncoder(), []
    for i in range(count):
        t = (np.arange(FRAME_SAMPLES) + i * FRAME_SAMPLES) / 48000
        packets.append(encoder.encode((np.sin(2 * np.pi * frequency * t) * 6000).astype(np.int16)) or b"")
    return packets


def play(legacy: bool) -> tuple[list[bytes], list[bytes], np.ndarray]:
    """Alice's tone alone for 1 s, then Bob's joins for 1 s, through Room.tick on its own clock (no network,
    no scheduling noise). Returns Alice's packets, the room's packets and what a listener decodes."""
    room = Room(SPACE)
    room.legacy = legacy
    room.tap = heard = Heard()
    voices = {}
    for user_id in (ALICE, BOB):
        voice = bot_peer(user_id, np.zeros(FRAME_SAMPLES, np.int16))
        voice.speaker = SpeakerInput()
        voices[user_id] = voice
        room.add_bot(voice)  # a publisher without a connection: its packets are handed in below
    room.bot = None
    room.apply_audible({ALICE, BOB})
    alice, bob = tone_packets(A_TONE, 100), tone_packets(B_TONE, 50)
    for tick in range(100):
        voices[ALICE].speaker.add(111, tick, alice[tick])
        if tick >= 50:
            voices[BOB].speaker.add(111, tick, bob[tick - 50])
        room.tick()
    decoder = SpeakerInput()
    decoder.set_accepting(True)
    pcm = []
    for seq, payload in enumerate(heard.payloads):
        decoder.add(111, seq, payload)
        pcm.append(decoder.pull())
    return alice, heard.payloads, np.concatenate(pcm).astype(np.int32)


def test_a_second_voice_switches_the_room_from_forwarding_to_mixing_without_a_click():
    alice, sent, pcm = play(legacy=False)
    # Alone, Alice's own packets went out byte for byte (after the first, which the decoder needs to start).
    assert sent[2:50] == alice[2:50]
    switch = 50 * FRAME_SAMPLES
    step = int(np.abs(np.diff(pcm[switch - 4 * FRAME_SAMPLES : switch + 4 * FRAME_SAMPLES])).max())
    _, _, mixed_all_along = play(legacy=True)
    steady = int(np.abs(np.diff(mixed_all_along[switch - 4 * FRAME_SAMPLES : switch + 4 * FRAME_SAMPLES])).max())
    assert step < CLICK, f"a step of {step} at the switch (mixing all along: {steady})"
    both = pcm[switch + 10 * FRAME_SAMPLES :]
    assert tone_amplitude(both, A_TONE) > PRESENT and tone_amplitude(both, B_TONE) > PRESENT


async def test_a_silent_room_sends_its_silence_every_400_ms_with_no_gap_in_the_numbering(room):
    engine, join = room
    listener = await join(None)
    await asyncio.sleep(0.3)
    start = time.monotonic()
    await asyncio.sleep(2.0)

    arrivals = [(at, seq) for at, seq, _ in listener.recorder.arrivals if at >= start]
    # 100 ticks of silence, a packet every DTX_EVERY_TICKS (20): 5, give or take one at each end.
    assert 4 <= len(arrivals) <= 7, len(arrivals)
    seqs = [seq for _, seq in arrivals]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:], strict=False)), seqs
    intervals = np.diff([at for at, _ in arrivals])
    assert np.median(intervals) == pytest.approx(DTX_EVERY_TICKS * 0.02, abs=0.05)
