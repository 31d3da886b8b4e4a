"""Reading recordings back as a listener would: decode an Ogg Opus file and look for tones."""

from __future__ import annotations

import io

import av
import numpy as np

from tests.media.peers import RATE, spectrum_peaks, tone_amplitude

__all__ = ["decode", "tone_amplitude", "spectrum_peaks", "RATE", "tones_in"]


def decode(data: bytes) -> tuple[np.ndarray, float]:
    """(PCM samples, the container's duration in seconds) of an Ogg Opus or M4A file."""
    container = av.open(io.BytesIO(data))
    stream = container.streams.audio[0]
    frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
    duration = float(container.duration / av.time_base) if container.duration else 0.0
    container.close()
    pcm = np.concatenate(frames) if frames else np.zeros(0)
    if pcm.dtype.kind == "f":
        pcm = pcm * 32767
    return pcm.astype(np.float64), duration


def tones_in(pcm: np.ndarray, start: float, end: float, frequencies: tuple[float, ...]) -> dict[float, float]:
    part = pcm[int(start * RATE) : int(end * RATE)]
    return {frequency: tone_amplitude(part, frequency) for frequency in frequencies}
