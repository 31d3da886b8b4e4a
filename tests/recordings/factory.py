"""Recordings made the way a media worker makes them, without a room: Opus packets of a tone, written by the
engine's own segment writer, shipped through recordings.segments, joined by the finalise job when the
Space ends (through rooms.services, so every signal and job runs as in production)."""

from __future__ import annotations

import uuid

import numpy as np
from django.utils import timezone

from media.mixer import OpusEncoder
from media.recorder import Segment as SegmentWriter
from recordings import segments
from recordings.models import Recording
from rooms import services
from rooms.models import Space
from tests.live.roomkit import live_space

RATE = 48000
FRAME = 960


def tone_packets(seconds: float, frequency: float = 440.0, amplitude: int = 6000) -> list[bytes]:
    encoder = OpusEncoder()
    packets = []
    for index in range(int(round(seconds * 50))):
        t = (np.arange(FRAME) + index * FRAME) / RATE
        pcm = (np.sin(2 * np.pi * frequency * t) * amplitude).astype(np.int16)
        packets.append(encoder.encode(pcm) or b"\xf8\xff\xfe")
    return packets


def record_segment(space: Space, packets: list[bytes], spool_dir, *, chunk_packets: int = 250) -> str:
    """One media worker's segment of `packets`, shipped in chunks as the worker would."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    writer = SegmentWriter(uuid.uuid4().hex, spool_dir)
    assert segments.open_segment(space.pk, writer.key, "test-worker", timezone.now())
    for index, packet in enumerate(packets, 1):
        writer.add(packet)
        if index % chunk_packets == 0:
            chunk, _ = writer.cut()
            assert segments.store_chunk(writer.key, chunk)
    chunk, _ = writer.cut(final=True)
    assert segments.store_chunk(writer.key, chunk)
    segments.close_segment(writer.key)
    return writer.key


def recorded_space(host, spool_dir, *, seconds: float = 4.0, tone: float = 440.0, title: str = "Recorded talk",
                   end: bool = True) -> Space:  # fmt: skip
    """A Space recorded from the start for `seconds`, then ended (so its replay is finalised)."""
    packets = tone_packets(seconds, tone)
    space = live_space(host, record=True, title=title)
    record_segment(space, packets, spool_dir)
    if end:
        services.end_space(space, host)
    return Space.objects.get(pk=space.pk)


def recording_of(space: Space) -> Recording:
    return Recording.objects.select_related("space").get(space=space)
