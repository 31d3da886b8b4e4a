"""Sending one room's Opus packets to every listener: RTP header + SRTP protect + sendto.

aiortc's stock path costs ~377 µs per listener-packet (an encoder per sender, an audio level computed
in Python per frame, a task per sender). The room encodes once; this module writes the same payload
to each listener's own RTP stream (its SSRC, sequence numbers and timestamp origin) and protects it
with that listener's SRTP session from aiortc's DTLS transport, so ICE, DTLS, SRTP keys, RTCP and
consent checks all stay aiortc's.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

from aiortc import clock
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RtpPacket
from aiortc.utils import random32

if TYPE_CHECKING:
    from aiortc import RTCRtpSender

_pack_header = struct.Struct("!BBHII").pack


class ParkedTrack(MediaStreamTrack):
    """Sits in an RTCRtpSender so aiortc's own RTP loop waits forever instead of encoding."""

    kind = "audio"

    async def recv(self) -> None:  # type: ignore[override]
        await asyncio.get_running_loop().create_future()


class RtpOutput:
    """One peer's outgoing RTP stream, written directly by the room's fan-out loop."""

    __slots__ = (
        "sender", "ssrc", "payload_type", "seq", "ts_origin", "first_byte", "extension",
        "protect", "sendto", "addr", "sent", "dropped", "dead", "last_timestamp", "last_size",
    )  # fmt: skip

    def __init__(self, sender: RTCRtpSender, payload_type: int) -> None:
        self.sender = sender
        self.ssrc = sender._ssrc
        self.payload_type = payload_type
        self.seq = random_sequence_number()
        self.ts_origin = random32()
        self.sent = 0
        self.dropped = 0
        self.dead = False
        self.last_timestamp = 0
        self.last_size = 0
        # The header extension block (the negotiated MID) never changes for a stream: serialise it
        # once with aiortc's own writer and reuse the bytes.
        mid = getattr(sender, "_RTCRtpSender__mid", None)
        extensions_map = getattr(sender, "_RTCRtpSender__rtp_header_extensions_map", None)
        template = RtpPacket(payload_type=payload_type, ssrc=self.ssrc)
        template.extensions.mid = mid
        raw = template.serialize(extensions_map) if extensions_map is not None else bytes(template)
        self.first_byte = raw[0]
        self.extension = raw[12:]
        dtls = sender.transport
        self.protect = dtls._tx_srtp.protect
        pair = dtls.transport._connection._nominated[1]
        sock = pair.protocol.transport.get_extra_info("socket")
        # asyncio's DatagramTransport.sendto adds several µs of checks; the raw socket is
        # non-blocking already and a full buffer just drops the packet (it is real-time audio).
        self.sendto = getattr(pair.protocol.transport, "_sock", sock).sendto
        self.addr = pair.remote_addr

    @classmethod
    def ready(cls, sender: RTCRtpSender) -> bool:
        """aiortc has finished DTLS and started the sender, so keys, MID and the ICE pair exist."""
        dtls = sender.transport
        return (
            dtls.state == "connected"
            and dtls._tx_srtp is not None
            and getattr(sender, "_RTCRtpSender__started", False)
            and 1 in dtls.transport._connection._nominated
        )

    def sync_sender_stats(self) -> None:
        """Keep the sender's RTCP sender reports truthful although aiortc did not send the RTP."""
        self.sender._RTCRtpSender__ntp_timestamp = clock.current_ntp_time()
        self.sender._RTCRtpSender__rtp_timestamp = self.last_timestamp
        self.sender._RTCRtpSender__packet_count = self.sent
        self.sender._RTCRtpSender__octet_count = self.sent * self.last_size


def fan_out(outputs: list[RtpOutput], payload: bytes, timestamp: int, skip: frozenset | set = frozenset()) -> int:
    """Send one payload to every output not in skip; returns how many were sent.

    The hot loop of the media worker: keep it free of lookups and allocations beyond the header.
    """
    sent = 0
    for out in outputs:
        if out in skip or out.dead:
            continue
        seq = out.seq
        out.seq = (seq + 1) & 0xFFFF
        ts = (out.ts_origin + timestamp) & 0xFFFFFFFF
        try:
            header = _pack_header(out.first_byte, out.payload_type, seq, ts, out.ssrc)
            out.sendto(out.protect(header + out.extension + payload), out.addr)
        except BlockingIOError:
            out.dropped += 1
            continue
        except OSError:
            out.dead = True
            continue
        out.sent += 1
        out.last_timestamp = ts
        sent += 1
    return sent


def send_one(out: RtpOutput, payload: bytes, timestamp: int) -> None:
    """A personal (mix-minus) packet for one speaker."""
    fan_out([out], payload, timestamp)
