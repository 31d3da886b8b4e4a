"""One speaker's incoming audio: RTP packets in, one 20 ms PCM frame out per mixer tick.

aiortc's own receive path holds ~80 ms in its jitter buffer (prefetch 4) and a lost packet can
stall it for a whole buffer; it also runs a decoder thread per receiver. Here the mixer reads the
speaker's socket itself at each tick once DTLS is up (aiortc's receiver hands us parsed packets
before that), we keep a tiny seq-indexed buffer and decode exactly one packet per 20 ms tick,
skipping what was lost and fading out what is late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import av
import numpy as np
import pylibsrtp
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtpPacket

from .compat import aioice as aioice_compat
from .compat import aiortc as aiortc_compat
from .compat import asyncio as asyncio_compat

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
# Hard cap on queued packets (100 ms): beyond it the sender is bursting and we drop the oldest.
MAX_DEPTH = 5
# Every WINDOW ticks (0.5 s), if the buffer never fell below 2 packets, the packets beyond the one
# each tick needs are latency for good (a burst after a stall, a clock that skipped ticks): drop them.
WINDOW = 25
# How many ticks of fading repetition stand in for a packet that has not arrived.
CONCEAL_TICKS = 2
# A speaker's socket is read once per tick: one RTP packet, now and then RTCP or a STUN check.
# More than this per tick is a flood; the rest waits in (or overflows) the kernel's buffer.
MAX_DATAGRAMS_PER_TICK = 16
MAX_DATAGRAM = 2048


def _seq_distance(seq: int, origin: int) -> int:
    """Forward distance from origin to seq on the 16-bit sequence circle."""
    return (seq - origin) & 0xFFFF


class SpeakerInput:
    """Buffers and decodes one speaker's Opus stream on the mixer's clock."""

    def __init__(self, payload_types: set[int] | None = None) -> None:
        self.payload_types = payload_types
        self.accepting = False
        self._packets: dict[int, bytes] = {}
        self._next_seq: int | None = None
        self._decoder = self._new_decoder()
        self._read_socket: Callable[[], None] | None = None
        self._pcm: np.ndarray = np.zeros(0, dtype=np.int16)
        self._last: np.ndarray | None = None
        self._concealed_in_row = 0
        self._window_min = MAX_DEPTH
        self._window_ticks = 0
        # The Opus packet that made exactly the frame pull() returned (None for a stand-in or a frame made
        # of parts of several packets): what a room may forward as it is when this voice talks alone.
        self.payload: bytes | None = None
        # counters, for tests and the benchmark
        self.received = 0
        self.dropped = 0
        self.decoded = 0
        self.concealed = 0
        self.skipped = 0

    @staticmethod
    def _new_decoder() -> av.AudioCodecContext:
        decoder = av.CodecContext.create("libopus", "r")
        decoder.format = "s16"
        decoder.layout = "mono"  # libopus downmixes a stereo stream for us
        decoder.sample_rate = SAMPLE_RATE
        return decoder

    def set_accepting(self, accepting: bool) -> None:
        """Audible speakers are buffered; anyone else's packets are dropped before decoding."""
        if accepting == self.accepting:
            return
        self.accepting = accepting
        if not accepting:
            self._packets.clear()
            self._pcm = np.zeros(0, dtype=np.int16)
            self._next_seq = None
            self._last = None

    async def handle_rtp(self, packet: RtpPacket, arrival_time_ms: int = 0) -> None:
        """Takes the receiver's parsed packets (media.compat.aiortc.divert_incoming_rtp) until the
        socket fast path takes over."""
        self.add(packet.payload_type, packet.sequence_number, packet.payload)

    def attach(self, dtls: RTCDtlsTransport) -> None:
        """DTLS is up: from now on this input reads its packets off the socket itself."""
        session = aiortc_compat.incoming_srtp(dtls)
        if session is None:
            raise ValueError("DTLS has not keyed SRTP yet")
        self._unprotect = session.unprotect
        self._read_socket = read_on_tick(dtls, self.handle_srtp)

    @property
    def reads_on_tick(self) -> bool:
        """The socket fast path is on: this input reads its own socket at each tick (see read_on_tick)."""
        return self._read_socket is not None

    def read_socket(self) -> None:
        """Take what arrived since the last tick (called by the mixer just before pull)."""
        if self._read_socket is not None:
            self._read_socket()

    def handle_srtp(self, data: bytes) -> None:
        """One SRTP datagram straight from the socket (see read_on_tick)."""
        if not self.accepting:
            self.dropped += 1  # not audible: not even decrypted
            return
        try:
            plain = self._unprotect(data)
        except pylibsrtp.Error:
            self.dropped += 1
            return
        parsed = parse_rtp(plain)
        if parsed is not None:
            self.add(*parsed)

    def add(self, payload_type: int, seq: int, payload: bytes) -> None:
        if not self.accepting or (self.payload_types is not None and payload_type not in self.payload_types):
            self.dropped += 1
            return
        if not payload:
            return
        if self._next_seq is not None and _seq_distance(seq, self._next_seq) >= 0x8000:
            self.dropped += 1  # older than what we already played or skipped
            return
        self.received += 1
        self._packets[seq] = payload
        if self._next_seq is None:
            self._next_seq = seq

    def _take_next(self) -> bytes | None:
        if self._next_seq is None or not self._packets:
            return None
        payload = self._packets.pop(self._next_seq, None)
        if payload is None:
            # The expected packet is lost (or reordered past us): skip to the oldest we hold.
            origin = self._next_seq
            oldest = min(self._packets, key=lambda s: _seq_distance(s, origin))
            self.skipped += _seq_distance(oldest, origin)
            self._next_seq = oldest
            payload = self._packets.pop(oldest)
        self._next_seq = (self._next_seq + 1) & 0xFFFF
        return payload

    def _drop_oldest(self) -> None:
        if self._take_next() is not None:
            self.skipped += 1

    def _decode(self, payload: bytes) -> None:
        try:
            frames = self._decoder.decode(av.Packet(payload))
        except av.FFmpegError as exc:
            logger.debug("opus decode failed: %s", exc)
            return
        for frame in frames:
            self.decoded += 1
            pcm = frame.to_ndarray().reshape(-1)
            self._pcm = pcm if not self._pcm.size else np.concatenate((self._pcm, pcm))

    def drop_backlog(self) -> None:
        """Keep only the newest packet: the mixer's clock fell behind and skipped ticks."""
        while len(self._packets) > 1:
            self._drop_oldest()

    def pull(self) -> np.ndarray | None:
        """The next 20 ms (int16, 960 samples), a fading stand-in, or None for silence."""
        if not self.accepting:
            return None
        depth = len(self._packets)
        self._window_min = min(self._window_min, depth)
        self._window_ticks += 1
        if self._window_ticks >= WINDOW:
            for _ in range(self._window_min - 1):
                self._drop_oldest()
            self._window_min = MAX_DEPTH
            self._window_ticks = 0
        while len(self._packets) > MAX_DEPTH:
            self._drop_oldest()

        whole = self._pcm.size == 0
        self.payload = None
        while self._pcm.size < FRAME_SAMPLES:
            payload = self._take_next()
            if payload is None:
                break
            self._decode(payload)
            if whole and self._pcm.size == FRAME_SAMPLES:
                self.payload = payload
            whole = False

        if self._pcm.size >= FRAME_SAMPLES:
            frame, self._pcm = self._pcm[:FRAME_SAMPLES], self._pcm[FRAME_SAMPLES:]
            self._last = frame
            self._concealed_in_row = 0
            return frame

        # Nothing in time: repeat the last frame at half, then quarter level, then silence.
        if self._last is None or self._concealed_in_row >= CONCEAL_TICKS:
            return None
        self._concealed_in_row += 1
        self.concealed += 1
        return (self._last >> self._concealed_in_row).astype(np.int16)


def parse_rtp(data: bytes) -> tuple[int, int, bytes] | None:
    """(payload type, sequence number, payload) of a plain RTP packet, or None if malformed."""
    if len(data) < 12:
        return None
    first = data[0]
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    end = len(data) - (data[-1] if first & 0x20 else 0)
    if end < offset:
        return None
    return data[1] & 0x7F, (data[2] << 8) | data[3], data[offset:end]


def _is_rtp(data: bytes) -> bool:
    # RTP/RTCP start with version 2 (128..191); RTCP packet types 192..223 sit in the second byte.
    return 127 < data[0] < 192 and not 192 <= data[1] <= 223


def intercept_rtp(dtls: RTCDtlsTransport, handle: Callable[[bytes], None] | None) -> bool:
    """Take incoming RTP off aiortc's path at the socket: DTLS, STUN and RTCP still go to aiortc.

    aiortc queues each datagram, wakes a task, unprotects, parses and routes it (~50 µs here);
    a speaker's packets need only unprotect + a header parse. A listener's RTP (handle=None) is
    dropped before decryption. Returns False until ICE has a nominated pair and SRTP keys exist.
    """
    pair = aioice_compat.nominated_pair(aiortc_compat.ice_connection(dtls))
    if aiortc_compat.incoming_srtp(dtls) is None or pair is None:
        return False
    protocol = pair.protocol
    original = protocol.datagram_received

    def datagram_received(data: bytes, addr: tuple) -> None:
        if len(data) > 1 and _is_rtp(data):
            if handle is not None:
                handle(data)
            return
        original(data, addr)

    protocol.datagram_received = datagram_received  # type: ignore[method-assign,assignment]
    return True


def read_on_tick(dtls: RTCDtlsTransport, handle: Callable[[bytes], None]) -> Callable[[], None] | None:
    """Read a speaker's socket on the mixer's clock instead of the event loop's.

    Every datagram used to wake the event loop (13 speakers: ~650 wake-ups a second, about a tenth
    of a quiet room's CPU in bench/audio_fanout.py) only to wait in the buffer for the next tick.
    The socket leaves the selector and the returned function drains it at the start of each tick:
    RTP to handle(), the rest (STUN consent, RTCP, DTLS alerts) to aioice as before, at most 20 ms
    later. Returns None, leaving the packets to intercept_rtp, when the pair's transport is not a
    plain socket (TURN).
    """
    pair = aioice_compat.nominated_pair(aiortc_compat.ice_connection(dtls))
    if pair is None:
        raise ValueError("ICE has not selected a pair yet")
    protocol = pair.protocol
    transport = protocol.transport
    sock = asyncio_compat.stop_reading(transport)
    if sock is None:
        intercept_rtp(dtls, handle)
        return None
    deliver = protocol.datagram_received
    recvfrom = sock.recvfrom

    def read() -> None:
        if transport.is_closing():
            return
        for _ in range(MAX_DATAGRAMS_PER_TICK):
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if sock.fileno() != -1:  # an ICMP error, as asyncio would report it
                    protocol.error_received(exc)
                return
            if len(data) > 1 and _is_rtp(data):
                handle(data)
            else:
                deliver(data, addr)

    return read
