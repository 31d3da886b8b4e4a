"""Headless Chromium and static/rooms/audio.js against the real engine: a browser speaker is heard by
an aiortc listener, and a browser listener receives the room's audio.

The page is a minimal one served by Playwright's router; its `signal` goes through an exposed function
straight to engine.negotiate (the room page wires the same call to the websocket).
"""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from rooms.media.engine import MediaEngine
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer, spectrum_peaks, tone_amplitude

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
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


def tone_wav(path: Path, frequency: float, seconds: float = 10.0) -> Path:
    """The browser's fake microphone plays this file in a loop."""
    t = np.arange(int(48000 * seconds)) / 48000
    samples = (np.sin(2 * np.pi * frequency * t) * 8000).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(samples.tobytes())
    return path


@pytest.fixture
async def browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    wav = tone_wav(tmp_path / "tone.wav", BROWSER_TONE)
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield context
        await context.close()


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
