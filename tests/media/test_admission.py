"""Admission control (issue 14): an engine whose audio clock is past its budget still answers offers at once,
refusing new listeners with a clear error while people on stage still get on."""

from __future__ import annotations

import asyncio
import time

import pytest

from live.media_port import MediaError
from media import room as room_module
from media.engine import MediaEngine
from media.limits import BUSY, PeerCaps, PeerLimits
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer

SPACE, HOST = 3, 1


async def an_offer(send: bool = False) -> str:
    peer = ClientPeer(send=send)
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    sdp = peer.pc.localDescription.sdp
    await peer.close()
    return sdp


@pytest.fixture
async def overloaded(monkeypatch):
    engine = MediaEngine(StubPolicy(publishers={HOST}), limits=PeerLimits(PeerCaps(cpu_budget=0.8)))
    await engine.negotiate(SPACE, None, await an_offer(), "offer")  # the room exists and ticks
    original = room_module.Room.tick

    def slow_tick(room):  # each tick takes longer than the 20 ms it has
        end = time.perf_counter() + 0.025
        while time.perf_counter() < end:
            pass
        return original(room)

    monkeypatch.setattr(room_module.Room, "tick", slow_tick)
    await asyncio.sleep(1.5)  # a second and more of overload: the engine knows it is over its budget
    yield engine
    monkeypatch.setattr(room_module.Room, "tick", original)
    await engine.close()


async def test_an_overloaded_engine_refuses_a_listener_within_a_second(overloaded):
    assert overloaded.limits.busy()
    assert overloaded.load()["busy"] is True
    sdp = await an_offer()
    started = time.monotonic()
    with pytest.raises(MediaError) as refused:
        await asyncio.wait_for(overloaded.negotiate(SPACE, None, sdp, "offer"), 1.0)
    assert time.monotonic() - started < 1.0
    assert str(refused.value) == BUSY == "The audio server is busy right now. Try again in a minute."


async def test_an_overloaded_engine_still_answers_the_host_within_a_second(overloaded):
    sdp = await an_offer(send=True)
    started = time.monotonic()
    answer = await asyncio.wait_for(overloaded.negotiate(SPACE, HOST, sdp, "offer"), 1.0)
    assert answer["type"] == "answer"
    assert time.monotonic() - started < 1.0


async def test_the_engine_takes_listeners_again_once_the_load_is_gone(overloaded, monkeypatch):
    monkeypatch.undo()  # the ticks are quick again
    await asyncio.sleep(2.0)
    assert not overloaded.limits.busy()
    await overloaded.negotiate(SPACE, None, await an_offer(), "offer")
