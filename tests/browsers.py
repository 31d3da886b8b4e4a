"""Headless Chromium with a fake microphone that plays a tone, for the browser audio tests."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")


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


def chromium_args(microphone: Path) -> list[str]:
    return [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]


def _needs_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


@asynccontextmanager
async def chromium_with_tone_microphone(tmp_path: Path, frequency: float) -> AsyncIterator:
    """A Playwright browser context (a fresh profile) whose microphone plays `frequency` Hz; skips the
    test when Debian's chromium is not installed."""
    _needs_chromium()
    from playwright.async_api import async_playwright

    wav = tone_wav(tmp_path / "tone.wav", frequency)
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=chromium_args(wav),
        )
        try:
            yield context
        finally:
            await context.close()


@asynccontextmanager
async def chromium_browser(tmp_path: Path, frequency: float = 440.0) -> AsyncIterator:
    """A headless Chromium in which each `new_context()` is a separate visitor (its own cookies), for
    tests with several people on one page; microphones play `frequency` Hz. Skips without chromium."""
    _needs_chromium()
    from playwright.async_api import async_playwright

    wav = tone_wav(tmp_path / "tone.wav", frequency)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(wav)
        )
        try:
            yield browser
        finally:
            await browser.close()
