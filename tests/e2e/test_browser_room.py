"""Headless Chromium on the real room page (templates/live/room.html, static/rooms/room.js + audio.js),
served by a real `manage.py runserver` subprocess on the test database, with the media engine inside it
(the embedded default's layout; tests/e2e/conftest.py). The other people in the room are real websocket
clients and real aiortc peers speaking the public protocol (docs/protocol.md, docs/media.md).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from channels.db import database_sync_to_async

from rooms.models import Participant
from tests.browsers import chromium_with_tone_microphone
from tests.e2e.conftest import WATCH_PEER_CONNECTIONS, connected_peer, hang_up
from tests.live.roomkit import live_space, put_on_stage, session_cookie
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, RoomSocket, Server

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

BROWSER_TONE, AIORTC_TONE = 523.0, 440.0
PRESENT, ABSENT = 1000.0, 150.0

# The room's audio as the page plays it, through a WebAudio analyser: the strongest frequency and the
# level (dBFS) at `frequency` against one far from it.
LISTEN_TO_PLAYER = """
async (frequency) => {
  const player = [...document.querySelectorAll("audio")].find((element) => element.srcObject);
  if (!player) return null;
  const context = new AudioContext();
  await context.resume();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  context.createMediaStreamSource(player.srcObject).connect(analyser);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const data = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(data);
  const hz = context.sampleRate / analyser.fftSize;
  const around = (f) => Math.max(...data.slice(Math.round(f / hz) - 2, Math.round(f / hz) + 3));
  let peak = 1;
  for (let i = 1; i < data.length; i += 1) if (data[i] > data[peak]) peak = i;
  await context.close();
  return { peakHz: peak * hz, tone: around(frequency), elsewhere: around(frequency * 2.37) };
}
"""


@pytest.fixture
async def browser(tmp_path):
    async with chromium_with_tone_microphone(tmp_path, BROWSER_TONE) as context:
        await context.add_init_script(WATCH_PEER_CONNECTIONS)
        yield context


async def open_room(context, server: Server, space_id: int, user=None):
    """The room page in the browser, logged in as `user` through the session cookie (or anonymous)."""
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        name, value = cookie.split("=", 1)
        await context.add_cookies([{"name": name, "value": value, "url": server.base_url}])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    response = await page.goto(f"{server.base_url}/spaces/{space_id}/room/")
    assert response.status == 200
    assert await page.locator("#room").count() == 1, await page.content()
    page.errors = errors
    return page


async def heard(listener: ClientPeer, seconds: float, *, silence: bool = False) -> np.ndarray:
    start, packets = time.monotonic(), listener.recorder.packets
    await asyncio.sleep(seconds)
    sound = listener.recorder.audio_between(start, time.monotonic())
    if silence:  # a silent room sends its silence every 400 ms (as Opus DTX does): alive if anything came
        assert listener.recorder.packets > packets, "the listener's connection carries nothing at all"
    else:
        assert sound.size > seconds * 48000 / 2, "the listener's connection carries no audio at all"
    return sound


async def test_a_listener_asks_to_speak_is_approved_and_heard_until_the_mute_button(room_server, browser, alice, bob):
    space = await database_sync_to_async(live_space)(alice)
    host = await RoomSocket.open(room_server.room_socket_url(space.pk), alice)
    audience = await RoomSocket.open(room_server.room_socket_url(space.pk))
    listener = ClientPeer()
    try:
        await host.next("snapshot")
        await audience.next("snapshot")
        page = await open_room(browser, room_server, space.pk, bob)
        await connected_peer(page, publishing=False)  # room.js listens from the start

        # Bob asks through the page's button; the host sees the request and approves it.
        await page.click('button[data-action="request_to_speak"]')
        request = await host.next("request_added")
        assert request["user"] == "bob"
        await host.send(action="approve_request", user="bob")

        # On stage (muted): room.js publishes the microphone, and shows the unmute button.
        await page.locator('button[data-action="unmute"]').wait_for(state="visible", timeout=5000)
        await connected_peer(page, publishing=True)

        # A listener through the real signalling hears nothing while Bob is muted...
        await listener.connect(audience.negotiate)
        before = await heard(listener, 0.6, silence=True)
        assert tone_amplitude(before, BROWSER_TONE) < ABSENT, spectrum_peaks(before)

        # ... and his microphone once he presses unmute.
        await page.click('button[data-action="unmute"]')
        unmuted = await host.next("speaker_unmuted")
        assert unmuted["user"] == "bob"
        deadline = time.monotonic() + 8
        while True:
            sound = await heard(listener, 0.5, silence=True)
            if tone_amplitude(sound, BROWSER_TONE) > PRESENT:
                break
            assert time.monotonic() < deadline, f"the browser's tone never arrived: {spectrum_peaks(sound)}"

        # The page's mute button silences him for everyone.
        await page.locator('button[data-action="mute"]').wait_for(state="visible", timeout=5000)
        await page.click('button[data-action="mute"]')
        muted = await host.next("speaker_muted")
        assert muted["user"] == "bob" and muted["by"] == "bob"
        await asyncio.sleep(0.3)  # the track is disabled at once, the server mutes on the event
        after = await heard(listener, 0.6, silence=True)
        assert tone_amplitude(after, BROWSER_TONE) < ABSENT, spectrum_peaks(after)
        assert page.errors == []
    finally:
        await listener.close()
        await host.close()
        await audience.close()


async def test_a_browser_listener_hears_an_aiortc_speaker(room_server, browser, alice, carol):
    def arrange():
        space = live_space(alice)
        put_on_stage(space, carol, Participant.Role.SPEAKER, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    socket = await RoomSocket.open(room_server.room_socket_url(space.pk), carol)
    speaker = ClientPeer(AIORTC_TONE)
    try:
        await socket.next("snapshot")
        await speaker.connect(socket.negotiate)

        page = await open_room(browser, room_server, space.pk)  # anonymous
        await connected_peer(page, publishing=False)
        first = await page.evaluate("window.__inbound()")
        await asyncio.sleep(1.0)
        second = await page.evaluate("window.__inbound()")
        assert second["packets"] - first["packets"] > 30, (first, second)  # 50 a second
        assert second["energy"] > 0, second

        sound = await page.evaluate(LISTEN_TO_PLAYER, AIORTC_TONE)
        assert sound is not None, "room.js attached no stream to an <audio> element"
        assert abs(sound["peakHz"] - AIORTC_TONE) < 15, sound
        assert sound["tone"] - sound["elsewhere"] > 30, sound
        assert page.errors == []
    finally:
        await speaker.close()
        await hang_up(socket)
