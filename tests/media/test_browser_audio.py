"""Headless Chromium and static/rooms/audio.js against the real engine: a browser speaker is heard by
an aiortc listener, and a browser listener receives the room's audio.

The page is a minimal one served by Playwright's router; its `signal` goes through an exposed function
straight to engine.negotiate (the room page wires the same call to the websocket).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from media.engine import MediaEngine
from tests.browsers import chromium_with_tone_microphone
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AUDIO_JS = Path(__file__).resolve().parents[2] / "static" / "rooms" / "audio.js"
ORIGIN = "http://localhost:8765"  # never contacted: Playwright answers every request itself
SPACE = 9
BROWSER_SPEAKER, AIORTC_SPEAKER = 1, 2
BROWSER_TONE, AIORTC_TONE = 523.0, 440.0

PAGE = """<!doctype html><html><body>
<script type="module">
import { startAudio } from "/static/rooms/audio.js";
window.states = [];
window.audio = startAudio({
  signal: (offer) => window.mediaSignal(offer.sdp, offer.type),
  iceServers: [],
  onState: (state) => window.states.push(state),
});
window.inbound = async () => {
  const stats = await window.audio.pc.getStats();
  for (const report of stats.values()) {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      return { packets: report.packetsReceived, energy: report.totalAudioEnergy || 0 };
    }
  }
  return { packets: 0, energy: 0 };
};
window.ready = true;
</script></body></html>"""


@pytest.fixture
async def browser(tmp_path):
    async with chromium_with_tone_microphone(tmp_path, BROWSER_TONE) as context:
        yield context


@pytest.fixture
async def engine():
    engine = MediaEngine(StubPolicy(publishers={BROWSER_SPEAKER, AIORTC_SPEAKER}))
    yield engine
    await engine.close()


async def open_page(context, engine: MediaEngine, user_id: int | None):
    page = await context.new_page()

    async def media_signal(sdp: str, sdp_type: str) -> dict:
        return await engine.negotiate(SPACE, user_id, sdp, sdp_type)

    await page.expose_function("mediaSignal", media_signal)
    await page.route(f"{ORIGIN}/room", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    await page.route(
        f"{ORIGIN}/static/rooms/audio.js",
        lambda route: route.fulfill(body=AUDIO_JS.read_text(), content_type="text/javascript"),
    )
    await page.goto(f"{ORIGIN}/room")
    await page.wait_for_function("window.ready === true")
    return page


async def test_a_browser_speaker_is_heard_by_an_aiortc_listener(browser, engine):
    page = await open_page(browser, engine, BROWSER_SPEAKER)
    await page.evaluate("window.audio.publish({startMuted: false})")
    await page.wait_for_function("window.states.includes('connected')", timeout=15000)

    listener = ClientPeer()

    async def negotiate(sdp: str, sdp_type: str) -> dict:
        return await engine.negotiate(SPACE, None, sdp, sdp_type)

    await listener.connect(negotiate)
    await asyncio.sleep(1.0)
    start = time.monotonic()
    await asyncio.sleep(1.0)
    heard = listener.recorder.audio_between(start, time.monotonic())
    assert tone_amplitude(heard, BROWSER_TONE) > 1000, spectrum_peaks(heard)

    # The mute button disables the microphone track (the server is told separately).
    await page.evaluate("window.audio.setMuted(true)")
    await asyncio.sleep(0.5)
    start = time.monotonic()
    await asyncio.sleep(0.5)
    after = listener.recorder.audio_between(start, time.monotonic())
    await listener.close()
    assert tone_amplitude(after, BROWSER_TONE) < 100, spectrum_peaks(after)


async def test_a_browser_listener_receives_the_room_audio(browser, engine):
    speaker = ClientPeer(AIORTC_TONE)

    async def negotiate(sdp: str, sdp_type: str) -> dict:
        return await engine.negotiate(SPACE, AIORTC_SPEAKER, sdp, sdp_type)

    await speaker.connect(negotiate)
    page = await open_page(browser, engine, None)
    await page.evaluate("window.audio.listen()")
    await page.wait_for_function("window.states.includes('connected')", timeout=15000)
    await asyncio.sleep(1.5)
    stats = await page.evaluate("window.inbound()")
    await speaker.close()
    assert stats["packets"] > 40, stats
    assert stats["energy"] > 0, stats
