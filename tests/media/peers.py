"""Real aiortc client peers for the media tests: tone sources, arrival-time recorders, FFT checks."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Awaitable, Callable

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

RATE = 48000
FRAME = 960
TIME_BASE = fractions.Fraction(1, RATE)

Negotiate = Callable[[str, str], Awaitable[dict]]


class ToneTrack(MediaStreamTrack):
    """A microphone that sings one sine tone, paced in real time like a capture device."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: int = 6000) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(FRAME) + self._pts) / RATE
        samples = (np.sin(2 * np.pi * self.frequency * t) * self.amplitude).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += FRAME
        return frame


class Recorder:
    """Decodes what a client peer receives the moment each packet arrives (no jitter buffer),
    so tests can say *when* a sound appeared or vanished."""

    def __init__(self) -> None:
        self.decoder = av.CodecContext.create("libopus", "r")
        self.decoder.format = "s16"
        self.decoder.layout = "mono"
        self.decoder.sample_rate = RATE
        self.chunks: list[tuple[float, np.ndarray]] = []
        self.packets = 0
        self.arrivals: list[tuple[float, int, bytes]] = []  # (time, sequence number, Opus payload)
        self.first_packet = asyncio.Event()

    async def handle_rtp(self, packet, arrival_time_ms: int = 0) -> None:
        self.packets += 1
        self.first_packet.set()
        now = time.monotonic()
        self.arrivals.append((now, packet.sequence_number, packet.payload))
        for frame in self.decoder.decode(av.Packet(packet.payload)):
            self.chunks.append((now, frame.to_ndarray().reshape(-1)))

    def audio_between(self, start: float, end: float) -> np.ndarray:
        parts = [pcm for at, pcm in self.chunks if start <= at < end]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def last_time_with(self, frequency: float, after: float, threshold: float) -> float | None:
        """Arrival time of the last 20 ms frame after `after` still carrying `frequency`."""
        last = None
        for at, pcm in self.chunks:
            if at >= after and tone_amplitude(pcm, frequency) > threshold:
                last = at
        return last


def tone_amplitude(pcm: np.ndarray, frequency: float) -> float:
    """Amplitude of one frequency in a block (Goertzel-style single DFT bin, Hann window)."""
    if pcm.size == 0:
        return 0.0
    window = np.hanning(pcm.size)
    t = np.arange(pcm.size) / RATE
    bin_value = np.sum(pcm * window * np.exp(-2j * np.pi * frequency * t))
    return float(2 * abs(bin_value) / np.sum(window))


def spectrum_peaks(pcm: np.ndarray, count: int = 3) -> list[float]:
    """The strongest frequencies (Hz) in a block, for readable failure messages."""
    if pcm.size == 0:
        return []
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(pcm.size)))
    freqs = np.fft.rfftfreq(pcm.size, 1 / RATE)
    return [round(float(freqs[i])) for i in np.argsort(spectrum)[-count:][::-1]]


class ClientPeer:
    """One browser stand-in: an aiortc peer that offers audio and records what it gets back."""

    def __init__(self, tone: float | None = None, *, send: bool | None = None) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.recorder = Recorder()
        self.track = ToneTrack(tone) if tone else None
        if self.track is not None:
            self.pc.addTrack(self.track)
        else:
            self.pc.addTransceiver("audio", direction="sendrecv" if send else "recvonly")

    async def connect(self, negotiate: Negotiate, timeout: float = 10.0) -> dict:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await negotiate(self.pc.localDescription.sdp, self.pc.localDescription.type)
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer))
        receiver = self.pc.getTransceivers()[0].receiver
        receiver._handle_rtp_packet = self.recorder.handle_rtp
        await asyncio.wait_for(self.recorder.first_packet.wait(), timeout)
        return answer

    async def close(self) -> None:
        await self.pc.close()
