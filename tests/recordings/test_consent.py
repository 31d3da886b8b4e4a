"""A recorded Space with consent, through the real room on the embedded default: websockets -> live.stage ->
in-process media engine -> aiortc peers; the engine records the mix it sends, the Space ends, the finalise
job joins the segment into the replay. A speaker who declined is heard live and absent from the replay."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from django.core.files.storage import storages

from recordings.models import Recording
from rooms.models import Participant, Space
from tests.live.roomkit import act, join, live_space, put_on_stage, receive_event
from tests.media.peers import ClientPeer
from tests.recordings.audio_checks import decode, spectrum_peaks, tone_amplitude, tones_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
Role = Participant.Role
PRESENT, ABSENT = 1500.0, 300.0
HOST_TONE, DECLINED_TONE = 440.0, 660.0


async def offer_over_socket(socket, peer: ClientPeer) -> None:
    async def negotiate(sdp: str, sdp_type: str) -> dict:
        await socket.send_to(text_data=json.dumps({"action": "webrtc_offer", "sdp": sdp, "type": sdp_type}))
        answer = await receive_event(socket, "webrtc_answer", timeout=10)
        return {"sdp": answer["sdp"], "type": answer["type"]}

    await peer.connect(negotiate)


async def ready_recording(space_id: int, timeout: float = 30) -> Recording:
    deadline = time.monotonic() + timeout
    while True:
        recording = await database_sync_to_async(Recording.objects.select_related("space").get)(space_id=space_id)
        if recording.state not in (Recording.State.RECORDING, Recording.State.FINALISING):
            return recording
        assert time.monotonic() < deadline, f"the replay was not made: {recording.state}"
        await asyncio.sleep(0.3)


async def test_a_declined_voice_is_heard_live_and_left_out_of_the_replay(in_process_media, alice, bob, carol):
    def arrange() -> Space:
        space = live_space(alice, record=True)
        put_on_stage(space, alice, Role.HOST, muted=False)
        put_on_stage(space, bob, Role.SPEAKER, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    sockets, peers = [], []
    try:
        host_socket, snapshot = await join(space.pk, alice)
        assert snapshot["space"]["recording"] is True
        bob_socket, _ = await join(space.pk, bob)
        carol_socket, _ = await join(space.pk, carol)
        sockets += [host_socket, bob_socket, carol_socket]

        # Bob keeps his voice out of the recording; everyone in the room is told.
        await act(bob_socket, "record_my_voice", on=False)
        consent = await receive_event(carol_socket, "voice_consent_changed")
        assert (consent["user"], consent["record_voice"]) == ("bob", False)

        for socket, tone in ((host_socket, HOST_TONE), (bob_socket, DECLINED_TONE), (carol_socket, None)):
            peer = ClientPeer(tone)
            peers.append(peer)
            await offer_over_socket(socket, peer)
        listener = peers[2]
        await asyncio.sleep(2.5)
        start = time.monotonic()
        await asyncio.sleep(1.0)
        heard = listener.recorder.audio_between(start, time.monotonic())
        # Live listeners hear both voices.
        assert tone_amplitude(heard, HOST_TONE) > PRESENT, spectrum_peaks(heard)
        assert tone_amplitude(heard, DECLINED_TONE) > PRESENT, spectrum_peaks(heard)
        await asyncio.sleep(1.0)

        await act(host_socket, "end_space")
        await receive_event(carol_socket, "space_ended", timeout=10)
        recording = await ready_recording(space.pk)
    finally:
        for peer in peers:
            await peer.close()
        for socket in sockets:
            await socket.disconnect()

    assert recording.state == Recording.State.READY
    space = recording.space
    live_seconds = (space.ended_at - space.started_at).total_seconds()
    assert abs(recording.duration - live_seconds) <= 0.5, (recording.duration, live_seconds)

    with storages["recordings"].open(recording.audio, "rb") as replay:
        pcm, container_seconds = decode(replay.read())
    assert abs(len(pcm) / 48000 - live_seconds) <= 0.5
    # Where both spoke (the stretch the listener heard both in), the replay has the host only.
    spoken = pcm[-int(4.0 * 48000) : -int(0.5 * 48000)]
    assert tone_amplitude(spoken, HOST_TONE) > PRESENT, spectrum_peaks(spoken)
    assert tone_amplitude(spoken, DECLINED_TONE) < ABSENT, spectrum_peaks(spoken)
    whole = tones_in(pcm, 0, len(pcm) / 48000, (DECLINED_TONE,))
    assert whole[DECLINED_TONE] < ABSENT
    # The waveform and the speaker timeline were made too; only the recorded voice is on the timeline.
    assert recording.peaks and max(recording.peaks) == 100
    assert {turn["user"] for turn in recording.timeline} == {"alice"}
