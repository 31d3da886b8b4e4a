"""The live mix for plain-HTTP listeners (`/spaces/<id>/listen.ogg`): how the packets a media engine already
sends its WebRTC listeners reach the web process that streams them. No Django import: the engine uses it.

On the embedded default the engine and the web views share one event loop: `LOCAL` hands each packet to
the process's streams directly. With `runmedia` workers, a web process with listeners for a room keeps
`WANT_KEY` alive in Redis; the room's worker sees it and publishes the room's packets on `CHANNEL`, ten at
a time (200 ms), for as long as someone wants them. Nothing is published for a room nobody listens to.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

WANT_KEY = "spaces:listen:want:{space_id}"
CHANNEL = "spaces:listen:packets:{space_id}"
WANT_TTL = 10  # seconds; web processes refresh it every few seconds while they have listeners
BATCH = 10  # packets per Redis message (200 ms)

Sink = Callable[[bytes], None]


def pack(packets: list[bytes]) -> bytes:
    return b"".join(struct.pack("<H", len(packet)) + packet for packet in packets)


def unpack(data: bytes) -> list[bytes]:
    packets, at = [], 0
    while at + 2 <= len(data):
        (size,) = struct.unpack_from("<H", data, at)
        packets.append(data[at + 2 : at + 2 + size])
        at += 2 + size
    return packets


class LocalFeed:
    """In-process hand-over (engine and streams on one event loop)."""

    def __init__(self) -> None:
        self._sinks: dict[int, set[Sink]] = {}

    def subscribe(self, space_id: int, sink: Sink) -> None:
        self._sinks.setdefault(space_id, set()).add(sink)

    def unsubscribe(self, space_id: int, sink: Sink) -> None:
        sinks = self._sinks.get(space_id)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self._sinks[space_id]

    def wanted(self, space_id: int) -> bool:
        return space_id in self._sinks

    def push(self, space_id: int, packet: bytes) -> None:
        for sink in tuple(self._sinks.get(space_id, ())):
            sink(packet)


LOCAL = LocalFeed()
