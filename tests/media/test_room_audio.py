"""Audio through the real room: websocket consumer -> media.client -> in-process engine -> aiortc
peers, with live.stage deciding who is heard (embedded default: no Redis)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async

from live import hub
from media import client as media_client
from rooms.models import Participant
from tests.live.roomkit import join, live_space, put_on_stage, receive_event
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude

pytestmark = pytest.mark.django_db(transaction=True)
Role = Participant.Role
PRESENT, ABSENT = 1500.0, 300.0


@pytest.fixture(autouse=True)
async def _stop_engine_and_hub(settings):
    # The engine inside this process, even when REDIS_URL is set (workers are tested elsewhere).
    settings.SPACES_MEDIA_IN_PROCESS = True
    yield
    await media_client.shutdown()
    await hub.shutdown()


@pytest.fixture
async def stage(alice, bob):
    def arrange():
        space = live_space(alice)
        put_on_stage(space, alice, Role.HOST, muted=False)
        put_on_stage(space, bob, Role.SPEAKER, muted=False)
        return space

    return await database_sync_to_async(arrange)()


async def offer_over_socket(socket, peer: ClientPeer) -> None:
    async def negotiate(sdp: str, sdp_type: str) -> dict:
        await socket.send_to(text_data=json.dumps({"action": "webrtc_offer", "sdp": sdp, "type": sdp_type}))
        answer = await receive_event(socket, "webrtc_answer", timeout=10)
        return {"sdp": answer["sdp"], "type": answer["type"]}

    await peer.connect(negotiate)


async def test_the_room_mixes_its_speakers_and_stops_a_muted_one_within_200_ms(stage, alice, bob, carol):
    sockets = []
    peers = []
    try:
        for user, tone in ((alice, 440.0), (bob, 660.0), (carol, None)):
            socket, _ = await join(stage.pk, user)
            sockets.append(socket)
            peer = ClientPeer(tone)
            peers.append(peer)
            await offer_over_socket(socket, peer)
        alice_peer, bob_peer, carol_peer = peers
        await asyncio.sleep(0.6)
        start = time.monotonic()
        await asyncio.sleep(0.6)
        end = time.monotonic()

        heard = carol_peer.recorder.audio_between(start, end)
        assert tone_amplitude(heard, 440.0) > PRESENT, spectrum_peaks(heard)
        assert tone_amplitude(heard, 660.0) > PRESENT, spectrum_peaks(heard)
        alice_hears = alice_peer.recorder.audio_between(start, end)
        assert tone_amplitude(alice_hears, 660.0) > PRESENT and tone_amplitude(alice_hears, 440.0) < ABSENT

        # Bob mutes himself through the socket: stage.mute -> room event -> engine re-reads audible ids.
        muted_at = time.monotonic()
        await sockets[1].send_to(text_data=json.dumps({"action": "mute"}))
        await asyncio.sleep(0.6)
        last_660 = carol_peer.recorder.last_time_with(660.0, after=muted_at - 0.1, threshold=PRESENT / 2)
        assert last_660 is not None and last_660 - muted_at < 0.200
        after = carol_peer.recorder.audio_between(muted_at + 0.2, time.monotonic())
        assert tone_amplitude(after, 660.0) < ABSENT, spectrum_peaks(after)
        assert tone_amplitude(after, 440.0) > PRESENT, spectrum_peaks(after)
    finally:
        for peer in peers:
            await peer.close()
        for socket in sockets:
            await socket.disconnect()


async def test_removing_a_listener_closes_their_peer_connection(stage, alice, carol):
    host_socket, _ = await join(stage.pk, alice)
    carol_socket, _ = await join(stage.pk, carol)
    carol_peer = ClientPeer()
    try:
        await offer_over_socket(carol_socket, carol_peer)
        await host_socket.send_to(text_data=json.dumps({"action": "remove", "user": "carol"}))
        for _ in range(60):
            if carol_peer.pc.connectionState == "closed":
                break
            await asyncio.sleep(0.05)
        assert carol_peer.pc.connectionState == "closed"
    finally:
        await carol_peer.close()
        await host_socket.disconnect()


async def test_ending_the_space_closes_every_peer_connection_and_frees_the_room(stage, alice, carol):
    host_socket, _ = await join(stage.pk, alice)
    carol_socket, _ = await join(stage.pk, carol)
    host_peer, carol_peer = ClientPeer(440.0), ClientPeer()
    try:
        await offer_over_socket(host_socket, host_peer)
        await offer_over_socket(carol_socket, carol_peer)
        await host_socket.send_to(text_data=json.dumps({"action": "end_space"}))
        for _ in range(60):
            if host_peer.pc.connectionState == carol_peer.pc.connectionState == "closed":
                break
            await asyncio.sleep(0.05)
        assert host_peer.pc.connectionState == "closed"
        assert carol_peer.pc.connectionState == "closed"
        engine = await media_client.local_engine()
        assert stage.pk not in engine.rooms
    finally:
        await host_peer.close()
        await carol_peer.close()


async def test_a_listener_may_not_publish_through_the_room(stage, alice, carol):
    carol_socket, _ = await join(stage.pk, carol)
    intruder = ClientPeer(880.0)
    try:
        await offer_over_socket(carol_socket, intruder)
        assert intruder.pc.getTransceivers()[0].currentDirection == "recvonly"
    finally:
        await intruder.close()
        await carol_socket.disconnect()


async def test_a_ticketed_space_gives_no_media_without_a_ticket(alice, carol):
    def arrange():
        space = live_space(alice)
        space.is_ticketed = True
        space.save()
        return space

    space = await database_sync_to_async(arrange)()
    peer = ClientPeer()
    try:
        await peer.pc.setLocalDescription(await peer.pc.createOffer())
        # Straight at the engine, past the consumer: the media side enforces the rule itself.
        with pytest.raises(media_client.MediaError):
            await media_client.negotiate(space.pk, carol.pk, peer.pc.localDescription.sdp, "offer")
    finally:
        await peer.close()
