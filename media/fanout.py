"""Sending one room's Opus packets to every listener: RTP header + SRTP protect + sendto.

aiortc's stock path costs ~377 µs per listener-packet (an encoder per sender, an audio level computed
in Python per frame, a task per sender). The room encodes once; this module writes the same payload
to each listener's own RTP stream (its SSRC, sequence numbers and timestamp origin) and protects it
with that listener's SRTP session from aiortc's DTLS transport, so ICE, DTLS, SRTP keys and consent
checks all stay aiortc's. The streams' RTCP sender reports go out from here too, a few per tick
(send_sender_reports, ~3 µs each): aiortc's report task per RTCRtpSender cost a timer wake-up and
~50 µs of Python per listener a second, about 1 µs per listener-packet in bench/audio_fanout.py.

The per-listener loop is the worker's hot path. Each packet is assembled in one scratch buffer,
encrypted there in place by libsrtp (the C library behind aiortc's pylibsrtp sessions, called
directly: pylibsrtp's protect() allocates a length cell and two copies per call) and sent from a
memoryview of it, so a listener costs no Python allocation beyond that view.

What this needs of aiortc's, aioice's, libsrtp's and asyncio's internals it gets from media/compat/
when a stream attaches (a session's context, libsrtp's protect function, a socket's sendto), so the
loop itself calls them directly.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RtcpSdesPacket, RtcpSourceInfo, RtpPacket
from aiortc.utils import random32

from .compat import aioice as aioice_compat
from .compat import aiortc as aiortc_compat
from .compat import asyncio as asyncio_compat
from .compat import pylibsrtp as srtp_compat

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

    from aiortc import RTCRtpSender

# Sequence number, timestamp and SSRC: what differs between two listeners' packets of one tick.
_pack_seq_ts_ssrc = struct.Struct("!HII").pack_into
# An RTCP sender report without report blocks: V=2 and RC=0, PT=200, length 6 (in 32-bit words, minus
# one), SSRC, NTP time (high, low), RTP timestamp, packet count, octet count.
_pack_sender_report = struct.Struct("!BBHIIIIII").pack_into
SENDER_REPORT_SIZE = 28
# Room for the largest Opus packet (1275 bytes), an RTP header with extensions and the SRTP tag.
SCRATCH_SIZE = 2048
SRTP_TRAILER = 16  # SRTP_MAX_TRAILER_LEN in libsrtp 2
MAX_HEADER = 256
MAX_PAYLOAD = SCRATCH_SIZE - MAX_HEADER - SRTP_TRAILER


class ParkedTrack(MediaStreamTrack):
    """Sits in an RTCRtpSender so aiortc's own RTP loop waits forever instead of encoding."""

    kind = "audio"

    async def recv(self) -> None:  # type: ignore[override]
        await asyncio.get_running_loop().create_future()


def take_over_sender_reports(sender: RTCRtpSender) -> None:
    """Keep aiortc's per-sender RTCP task from sending reports: the room's tick sends them instead.

    Call before the sender starts (aiortc creates the task in send(), after DTLS). aiortc's task
    wakes every 0.5-1.5 s per sender and builds its packets in Python: at 1,000 listeners a
    thousand wake-ups a second. What stands in keeps the task's contract with RTCRtpSender.stop(),
    which waits for its started and exited events, and says BYE on close as aiortc does, so closing
    a connection is unchanged.
    """
    aiortc_compat.keep_rtcp_quiet(sender)


# Header shapes seen so far (a handful: payload type x MID), so equal shapes are one object.
_shapes: dict[bytes, bytes] = {}


class Scratch:
    """The buffer in which each listener's packet is written, encrypted in place and sent from."""

    __slots__ = ("buffer", "view", "pointer", "length")

    def __init__(self) -> None:
        self.buffer = bytearray(SCRATCH_SIZE)
        self.view = memoryview(self.buffer)
        self.pointer = srtp_compat.buffer_pointer(self.buffer)
        self.length = srtp_compat.length_cell()


class RtpOutput:
    """One peer's outgoing RTP stream, written directly by the room's fan-out loop."""

    __slots__ = (
        "sender", "session", "srtp", "shape", "ssrc", "seq_origin", "ts_origin", "sendto", "addr",
        "first_index", "octet_origin", "sdes", "dropped", "dead",
    )  # fmt: skip

    def __init__(self, sender: RTCRtpSender, payload_type: int, index: int = 0, octets: int = 0) -> None:
        """index and octets: the room's packet index and payload octets sent at attach time, the
        origins of this stream's sequence numbers and of its sender reports' counts."""
        self.sender = sender
        self.seq_origin = (random_sequence_number() - index) & 0xFFFF
        self.ts_origin = random32()
        self.first_index = index
        self.octet_origin = octets
        self.dropped = 0
        self.dead = False
        stream = aiortc_compat.sender_parameters(sender)
        self.ssrc = stream.ssrc
        # The rest of the header is the same for every packet of a stream, and usually for every
        # stream of a room: the first byte, payload type and header extension block (the negotiated
        # MID), serialised once with aiortc's own writer. Streams with equal bytes share one object,
        # so the fan-out rewrites it in the scratch buffer only when it changes (SRTP leaves the
        # header in clear).
        template = RtpPacket(payload_type=payload_type)
        template.extensions.mid = stream.mid
        shape = template.serialize(stream.header_extensions)
        if len(shape) > MAX_HEADER:
            raise ValueError("RTP header extensions too long")
        self.shape = _shapes.setdefault(shape, shape)
        # The SDES CNAME chunk that follows each sender report (RFC 3550 compound RTCP) never changes.
        cname = stream.cname
        self.sdes = b""
        if cname and len(cname.encode()) <= 255:
            chunk = RtcpSourceInfo(ssrc=self.ssrc, items=[(1, cname.encode())])
            self.sdes = bytes(RtcpSdesPacket(chunks=[chunk]))
        dtls = sender.transport
        session = aiortc_compat.outgoing_srtp(dtls)
        pair = aioice_compat.nominated_pair(aiortc_compat.ice_connection(dtls))
        if session is None or pair is None:
            raise ValueError("the sender is not ready (see RtpOutput.ready)")
        # Holding the session keeps libsrtp's context alive as long as we use its pointer.
        self.session = session
        self.srtp = srtp_compat.session_context(session)
        # asyncio's DatagramTransport.sendto adds several µs of checks; the raw socket is
        # non-blocking already and a full buffer just drops the packet (it is real-time audio).
        sock = asyncio_compat.raw_socket(pair.protocol.transport)
        self.sendto = sock.sendto if sock is not None else _copying_sendto(pair.protocol.transport)
        self.addr = pair.remote_addr

    @classmethod
    def ready(cls, sender: RTCRtpSender) -> bool:
        """aiortc has finished DTLS and started the sender, so keys, MID and the ICE pair exist."""
        dtls = sender.transport
        return (
            dtls.state == "connected"
            and aiortc_compat.outgoing_srtp(dtls) is not None
            and aiortc_compat.sender_started(sender)
            and aioice_compat.nominated_pair(aiortc_compat.ice_connection(dtls)) is not None
        )


def _copying_sendto(transport: asyncio.DatagramTransport) -> Callable[[memoryview, tuple], None]:
    """sendto for a pair without a raw socket (a TURN relay): such a transport may send later, after
    the scratch buffer holds the next listener's packet, so it gets a copy."""
    send = transport.sendto

    def sendto(packet: memoryview, addr: tuple) -> None:
        send(bytes(packet), addr)

    return sendto


def fan_out(
    outputs: Iterable[RtpOutput],
    payload: bytes,
    index: int,
    timestamp: int,
    scratch: Scratch,
    skip: Collection[RtpOutput] = (),
) -> int:
    """Send one payload to every output not in skip; returns how many were sent.

    index is the room's packet index (one per tick): each stream's sequence number is its origin plus
    the index, so no per-listener counter is written. timestamp is the room's RTP timestamp.
    """
    size = len(payload)
    if size > MAX_PAYLOAD:
        raise ValueError(f"payload of {size} bytes does not fit an RTP packet")
    if skip:
        outputs = [out for out in outputs if out not in skip]
    buffer, view, pointer, length = scratch.buffer, scratch.view, scratch.pointer, scratch.length
    protect = srtp_compat.protect_rtp
    pack_ids = _pack_seq_ts_ssrc
    shape = None
    header_size = end = packet_size = 0
    packet = view[:0]
    sent = 0
    for out in outputs:
        if out.dead:
            continue
        if out.shape is not shape:
            shape = out.shape
            header_size = len(shape)
            end = header_size + size
            buffer[:header_size] = shape
        pack_ids(buffer, 2, (out.seq_origin + index) & 0xFFFF, (out.ts_origin + timestamp) & 0xFFFFFFFF, out.ssrc)
        buffer[header_size:end] = payload
        length[0] = end
        if protect(out.srtp, pointer, length):
            out.dropped += 1
            continue
        if length[0] != packet_size:  # the SRTP tag's length depends on the negotiated profile
            packet_size = length[0]
            packet = view[:packet_size]
        try:
            out.sendto(packet, out.addr)
        except BlockingIOError:
            out.dropped += 1
            continue
        except OSError:
            out.dead = True
            continue
        sent += 1
    return sent


def send_sender_reports(
    outputs: Iterable[RtpOutput], packets: int, octets: int, timestamp: int, ntp_time: int, scratch: Scratch
) -> None:
    """Send each output an RTCP sender report (+ SDES CNAME), SRTCP-protected in the scratch buffer.

    packets and octets: what the room has sent so far (packet index and payload bytes); timestamp:
    the room's RTP timestamp of its last packet, sent at ntp_time. The counts are the room's since
    the output attached, less what it dropped; a mix-minus packet counts as the room's.
    """
    buffer, view, pointer, length = scratch.buffer, scratch.view, scratch.pointer, scratch.length
    protect = srtp_compat.protect_rtcp
    pack = _pack_sender_report
    ntp_high, ntp_low = (ntp_time >> 32) & 0xFFFFFFFF, ntp_time & 0xFFFFFFFF
    for out in outputs:
        if out.dead:
            continue
        sent = max(0, packets - out.first_index - out.dropped)
        pack(buffer, 0, 0x80, 200, 6, out.ssrc, ntp_high, ntp_low, (out.ts_origin + timestamp) & 0xFFFFFFFF,
             sent & 0xFFFFFFFF, (octets - out.octet_origin) & 0xFFFFFFFF)  # fmt: skip
        end = SENDER_REPORT_SIZE + len(out.sdes)
        buffer[SENDER_REPORT_SIZE:end] = out.sdes
        length[0] = end
        if protect(out.srtp, pointer, length):
            continue
        try:
            out.sendto(view[: length[0]], out.addr)
        except OSError:
            continue  # a lost report is harmless: the next one follows in a second
