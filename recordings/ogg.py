"""Ogg Opus (RFC 7845) pages in and out, written by hand: no re-encode, and a page costs a few µs.

A recording is one logical Opus stream of 20 ms packets (the media engine's 960-sample frames). The
writer builds pages from packets the engine already encoded; the reader gives the packets back from any
run of whole pages (a chunk of a segment, a joined replay), so joining segments and cutting clips are
remuxes, never encodes.

Ogg's CRC is CRC-32 with polynomial 0x04C11DB7, unreflected, init 0, no final xor. zlib's crc32 is the
reflected form of the same polynomial, so the Ogg CRC of `data` is the bit-reversed zlib CRC (with its
init and final xor undone) of `data` with every byte's bits reversed: all of it runs in C.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

SAMPLE_RATE = 48000
PACKET_SAMPLES = 960  # 20 ms
# libopus's encoder delay at 48 kHz: decoders drop this many samples at the start of a stream.
PRE_SKIP = 312
# A page holds this many packets (1 s): one CRC and one write a second per stream.
PACKETS_PER_PAGE = 50
# What the room sends when nobody is audible; decoders play it as 20 ms of silence.
SILENT_PACKET = b"\xf8\xff\xfe"
VENDOR = b"Spaces"

_BOS, _EOS, _CONTINUED = 0x02, 0x04, 0x01
_HEADER = struct.Struct("<4sBBqIIIB")  # capture pattern .. number of segments (27 bytes)
_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum, through zlib (see the module docstring)."""
    reflected = zlib.crc32(data.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return _reverse32(reflected)


def opus_head(pre_skip: int = PRE_SKIP) -> bytes:
    return b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, SAMPLE_RATE, 0, 0)


def opus_tags(title: str = "") -> bytes:
    comments = [f"TITLE={title}".encode()] if title else []
    body = b"OpusTags" + struct.pack("<I", len(VENDOR)) + VENDOR + struct.pack("<I", len(comments))
    for comment in comments:
        body += struct.pack("<I", len(comment)) + comment
    return body


def page(packets: list[bytes], *, serial: int, sequence: int, granule: int, flags: int = 0) -> bytes:
    """One page holding whole packets (at most 255 lacing values: fine for 50 Opus packets)."""
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes((len(packet) % 255,))
    if len(lacing) > 255:
        raise ValueError("too many packets for one Ogg page")
    header = _HEADER.pack(b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    body = header + bytes(lacing) + b"".join(packets)
    return body[:22] + struct.pack("<I", ogg_crc(body)) + body[26:]


def restamp(built: bytes, *, sequence: int, granule: int) -> bytes:
    """A copy of a page with another sequence number and granule position (and its checksum again): one
    shared page stream, numbered for each listener from their own start."""
    body = (
        built[:6] + struct.pack("<q", granule) + built[14:18] + struct.pack("<I", sequence) + b"\0\0\0\0" + built[26:]
    )
    return body[:22] + struct.pack("<I", ogg_crc(body)) + body[26:]


def new_serial() -> int:
    return int.from_bytes(os.urandom(4), "little")


class OggOpusWriter:
    """Turns 20 ms Opus packets into Ogg pages, one page per PACKETS_PER_PAGE packets.

    `add` returns the bytes of a finished page (or b""), so a caller can write and flush each page: what
    it wrote is a playable file at every page boundary. `headers()` are the stream's first two pages.
    """

    def __init__(self, *, serial: int | None = None, title: str = "", packets_per_page: int = PACKETS_PER_PAGE) -> None:
        self.serial = new_serial() if serial is None else serial
        self.title = title
        self.packets_per_page = packets_per_page
        self.sequence = 0
        self.granule = 0
        self.packets = 0
        self._pending: list[bytes] = []

    def headers(self) -> bytes:
        head = page([opus_head()], serial=self.serial, sequence=0, granule=0, flags=_BOS)
        tags = page([opus_tags(self.title)], serial=self.serial, sequence=1, granule=0)
        self.sequence = 2
        return head + tags

    def add(self, packet: bytes) -> bytes:
        self._pending.append(packet)
        self.granule += PACKET_SAMPLES
        self.packets += 1
        if len(self._pending) >= self.packets_per_page:
            return self.flush()
        return b""

    def flush(self, *, last: bool = False) -> bytes:
        """The pending packets as a page (the final one with `last`)."""
        if not self._pending and not last:
            return b""
        built = page(
            self._pending, serial=self.serial, sequence=self.sequence, granule=self.granule, flags=_EOS if last else 0
        )
        self.sequence += 1
        self._pending = []
        return built


@dataclass
class Page:
    flags: int
    granule: int
    serial: int
    sequence: int
    packets: list[bytes]
    ends_open: bool  # the last packet continues on the next page


def read_pages(data: bytes | BinaryIO) -> Iterator[Page]:
    """Every page of an Ogg stream (bytes or a binary file); a truncated last page ends the stream quietly,
    as a crash leaves it."""
    stream = _Bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data
    while True:
        header = stream.read(27)
        if len(header) < 27:
            return
        capture, _version, flags, granule, serial, sequence, _crc, count = _HEADER.unpack(header)
        if capture != b"OggS":
            raise ValueError("not an Ogg stream (lost page sync)")
        lacing = stream.read(count)
        body = stream.read(sum(lacing))
        if len(lacing) < count or len(body) < sum(lacing):
            return
        packets, start, size = [], 0, 0
        for value in lacing:
            size += value
            if value < 255:
                packets.append(body[start : start + size])
                start, size = start + size, 0
        ends_open = size > 0
        if ends_open:
            packets.append(body[start : start + size])
        yield Page(flags, granule, serial, sequence, packets, ends_open)


def read_packets(data: bytes | BinaryIO) -> Iterator[bytes]:
    """The audio packets of an Ogg Opus stream or of any run of its whole pages (headers skipped)."""
    carry = b""
    for found in read_pages(data):
        packets = list(found.packets)
        if found.flags & _CONTINUED and packets:
            packets[0] = carry + packets[0]
        elif carry:
            packets.insert(0, carry)  # a page that should have continued a packet did not: keep what we had
        carry = packets.pop() if found.ends_open else b""
        for packet in packets:
            if not packet.startswith((b"OpusHead", b"OpusTags")):
                yield packet


def whole_pages(data: bytes) -> bytes:
    """`data` up to the end of its last complete page (a crash can leave half a page behind)."""
    at = 0
    while at + 27 <= len(data) and data[at : at + 4] == b"OggS":
        count = data[at + 26]
        if at + 27 + count > len(data):
            break
        end = at + 27 + count + sum(data[at + 27 : at + 27 + count])
        if end > len(data):
            break
        at = end
    return data[:at]


def write_stream(packets: Iterable[bytes], out: BinaryIO, *, title: str = "") -> int:
    """A complete Ogg Opus stream of `packets` into `out`; returns how many packets it holds."""
    writer = OggOpusWriter(title=title)
    out.write(writer.headers())
    for packet in packets:
        built = writer.add(packet)
        if built:
            out.write(built)
    out.write(writer.flush(last=True))
    return writer.packets


def duration_of(packet_count: int) -> float:
    """Seconds a stream of `packet_count` 20 ms packets plays for (the decoder drops PRE_SKIP samples)."""
    return max(packet_count * PACKET_SAMPLES - PRE_SKIP, 0) / SAMPLE_RATE


class _Bytes:
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data, self.at = bytes(data), 0

    def read(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size]
        self.at += len(chunk)
        return chunk
