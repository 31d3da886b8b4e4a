"""Offer floods (issue 10, item 9): every answered offer holds a peer connection, so the engine caps them
per socket, per user or address, and in total, and a legitimate listener still gets in."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from channels.db import database_sync_to_async

from live import hub
from live.media_port import MediaError
from media import client as media_client
from media import engine as engine_module
from media.engine import MediaEngine
from media.limits import FULL, TOO_MANY_FOR_IP, PeerCaps, PeerLimits
from tests.live.roomkit import join, live_space, receive_event
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude

SPACE = 9
HOST = 1
PRESENT = 1500.0
FLOOD = 200


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def an_offer() -> str:
    """One real browser-shaped listener offer, reused by the flood (the engine makes a peer per offer)."""
    peer = ClientPeer()
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    sdp = peer.pc.localDescription.sdp
    await peer.close()
    return sdp


async def hears(peer: ClientPeer, tone: float, within: float = 3.0) -> bool:
    """Does the peer's last 0.4 s carry the tone, at some point within `within` seconds?"""
    for _ in range(int(within / 0.2)):
        await asyncio.sleep(0.2)
        if tone_amplitude(peer.recorder.audio_between(0, float("inf"))[-19200:], tone) > PRESENT:
            return True
    return False


def negotiator(engine: MediaEngine, user_id: int | None, address: str | None, socket_id: str | None = None):
    async def negotiate(sdp: str, sdp_type: str) -> dict:
        return await engine.negotiate(SPACE, user_id, sdp, sdp_type, socket_id=socket_id, address=address)

    return negotiate


@pytest.fixture
async def capped():
    engine = MediaEngine(StubPolicy(publishers={HOST}),
                         limits=PeerLimits(PeerCaps(per_user=4, per_ip=5, per_worker=12, stage_reserve=2)))  # fmt: skip
    peers: list[ClientPeer] = []
    yield engine, peers
    for peer in peers:
        await peer.close()
    await engine.close()


async def test_a_flood_from_one_address_stops_at_its_cap_and_a_listener_from_elsewhere_hears_the_host(capped):
    engine, peers = capped
    host = ClientPeer(440.0)
    peers.append(host)
    await host.connect(negotiator(engine, HOST, "198.51.100.1"))
    sdp = await an_offer()
    before = open_fds()

    refusals: list[str] = []
    for _ in range(FLOOD):
        try:
            await engine.negotiate(SPACE, None, sdp, "offer", address="203.0.113.9")
        except MediaError as exc:
            refusals.append(str(exc))

    assert len(refusals) == FLOOD - 5
    assert set(refusals) == {TOO_MANY_FOR_IP}
    assert len(engine.rooms[SPACE].peers) == 1 + 5
    # Five half-open peers, not two hundred: a few descriptors each.
    assert open_fds() - before <= 5 * 4, open_fds() - before

    listener = ClientPeer()
    peers.append(listener)
    await listener.connect(negotiator(engine, None, "192.0.2.7"))
    assert await hears(listener, 440.0), spectrum_peaks(listener.recorder.audio_between(0, float("inf")))


async def test_a_full_engine_refuses_listeners_with_a_clear_error_but_lets_the_host_on_stage(capped):
    engine, peers = capped
    sdp = await an_offer()
    for n in range(10):  # 12 peers, 2 kept for the stage: 10 listeners from ten addresses
        await engine.negotiate(SPACE, None, sdp, "offer", address=f"192.0.2.{n}")

    with pytest.raises(MediaError) as refused:
        await engine.negotiate(SPACE, None, sdp, "offer", address="192.0.2.200")
    assert str(refused.value) == FULL == "The audio server is full right now. Try again in a minute."

    host = ClientPeer(440.0)
    peers.append(host)
    await host.connect(negotiator(engine, HOST, "198.51.100.1"))  # connects: first packet within 10 s
    assert engine.limits.refused == 1


async def test_peers_that_never_connect_give_their_places_back(capped, monkeypatch):
    engine, peers = capped
    monkeypatch.setattr(engine_module, "CONNECT_TIMEOUT", 0.5)
    engine.refresh_interval = 0.2
    sdp = await an_offer()
    for _ in range(5):
        await engine.negotiate(SPACE, None, sdp, "offer", address="203.0.113.9")
    with pytest.raises(MediaError):
        await engine.negotiate(SPACE, None, sdp, "offer", address="203.0.113.9")

    await asyncio.sleep(1.2)  # past the connect timeout: the flood's half-open peers are closed

    assert engine.rooms[SPACE].peers == {}
    assert engine.limits.total == 0
    listener = ClientPeer()
    peers.append(listener)
    await listener.connect(negotiator(engine, None, "203.0.113.9"))


async def test_a_socket_that_offers_again_replaces_its_peer(capped):
    engine, peers = capped
    sdp = await an_offer()
    for _ in range(20):
        await engine.negotiate(SPACE, None, sdp, "offer", address="203.0.113.9", socket_id="tab-1")
    assert len(engine.rooms[SPACE].peers) == 1
    assert engine.limits.total == 1

    listener = ClientPeer()
    peers.append(listener)
    await listener.connect(negotiator(engine, None, "203.0.113.9", socket_id="tab-1"))
    assert len(engine.rooms[SPACE].peers) == 1


# -- through the room's socket ------------------------------------------------------------------------------


@pytest.fixture
async def in_process(settings):
    settings.SPACES_MEDIA_IN_PROCESS = True
    settings.SPACES_MEDIA_MAX_PEERS = 3
    yield
    await media_client.shutdown()
    await hub.shutdown()


@pytest.mark.django_db(transaction=True)
async def test_the_room_socket_replaces_its_peer_and_says_when_the_server_is_full(in_process, alice):
    space = await database_sync_to_async(live_space)(alice)
    sdp = await an_offer()
    flooder, _ = await join(space.pk)
    for _ in range(5):
        await flooder.send_to(text_data=json.dumps({"action": "webrtc_offer", "sdp": sdp, "type": "offer"}))
        await receive_event(flooder, "webrtc_answer", timeout=10)
    engine = await media_client.local_engine()
    assert len(engine.rooms[space.pk].peers) == 1

    # SPACES_MEDIA_MAX_PEERS=3 keeps 20 places for the stage: one listener place in all, and it is taken.
    other, _ = await join(space.pk)
    await other.send_to(text_data=json.dumps({"action": "webrtc_offer", "sdp": sdp, "type": "offer"}))
    error = await receive_event(other, "error", timeout=10)
    assert error["action"] == "webrtc_offer"
    assert error["reason"] == FULL
    for socket in (flooder, other):
        await socket.disconnect()
