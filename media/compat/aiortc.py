"""aiortc internals the media engine uses, in one place, checked at startup against SUPPORTED.

Every function here runs when a peer connects or its DTLS comes up, never per packet: the fast path
keeps what they return (a Session, an SSRC, the header's parameters) and uses it directly.

Private attributes used (aiortc 1.16):
- RTCPeerConnection.__certificates  one shared DTLS certificate instead of a key per peer
- RTCRtpTransceiver._codecs         the negotiated codecs (payload types)
- RTCRtpReceiver._handle_rtp_packet replaced per receiver: a speaker's packets skip aiortc's jitter
                                    buffer and decoder thread
- RTCRtpSender._ssrc, __mid, __cname, __rtp_header_extensions_map, __started
                                    the stream's parameters, so the fan-out writes its RTP itself
- RTCRtpSender._run_rtcp, _send_rtcp, __rtcp_started, __rtcp_exited
                                    the per-sender RTCP task, replaced by one that only says BYE
- RTCDtlsTransport._tx_srtp, _rx_srtp  the SRTP sessions DTLS keyed
- RTCIceTransport._connection      the aioice Connection (see media/compat/aioice.py)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate
from aiortc.rtp import RtcpByePacket

from .pins import distribution_version as _version
from .pins import missing, not_callable, run_probe, verdict

if TYPE_CHECKING:
    import aioice
    import pylibsrtp
    from aiortc import RTCDtlsTransport, RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket

SUPPORTED = "1.16"

SENDER_ATTRIBUTES = ("_ssrc", "__mid", "__cname", "__started", "__rtcp_started", "__rtcp_exited",
                     "__rtp_header_extensions_map")  # fmt: skip
SENDER_METHODS = ("_send_rtcp", "_run_rtcp")


def installed_version() -> str:
    return _version("aiortc")


# -- signalling --------------------------------------------------------------------------------------


def use_certificate(pc: RTCPeerConnection, certificate: RTCCertificate) -> None:
    """Make pc's DTLS transports use certificate. Call before setRemoteDescription creates them."""
    internals: Any = pc
    internals._RTCPeerConnection__certificates = [certificate]


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs agreed for this transceiver, preferred first (after setRemoteDescription)."""
    return transceiver._codecs


def divert_incoming_rtp(receiver: RTCRtpReceiver, handle: Callable[[RtpPacket, int], Awaitable[None]]) -> None:
    """Hand every parsed RTP packet for receiver to handle(packet, arrival_time_ms) instead of aiortc's
    jitter buffer and decoder."""
    internals: Any = receiver
    internals._handle_rtp_packet = handle


# -- a sender whose RTP and RTCP the fan-out writes ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SenderParameters:
    """What aiortc negotiated for one RTCRtpSender's stream (read once it has started)."""

    ssrc: int
    mid: str | None
    cname: str | None
    header_extensions: HeaderExtensionsMap


def sender_ssrc(sender: RTCRtpSender) -> int:
    return sender._ssrc


def sender_parameters(sender: RTCRtpSender) -> SenderParameters:
    internals: Any = sender
    return SenderParameters(
        ssrc=internals._ssrc,
        mid=internals._RTCRtpSender__mid,
        cname=internals._RTCRtpSender__cname,
        header_extensions=internals._RTCRtpSender__rtp_header_extensions_map,
    )


def sender_started(sender: RTCRtpSender) -> bool:
    """send() has run: the MID, CNAME and header extensions are known."""
    internals: Any = sender
    return internals._RTCRtpSender__started


def keep_rtcp_quiet(sender: RTCRtpSender) -> None:
    """Replace the sender's RTCP task (created in send()) by one that sends no reports, only a BYE
    when the sender stops, as aiortc's does. It keeps the task's contract with RTCRtpSender.stop(),
    which waits for the started and exited events. Call before the sender starts."""
    internals: Any = sender

    async def run_until_stopped() -> None:
        internals._RTCRtpSender__rtcp_started.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pass
        await internals._send_rtcp([RtcpByePacket(sources=[internals._ssrc])])
        internals._RTCRtpSender__rtcp_exited.set()

    internals._run_rtcp = run_until_stopped


# -- transports ----------------------------------------------------------------------------------------


def outgoing_srtp(dtls: RTCDtlsTransport) -> pylibsrtp.Session | None:
    """The SRTP session that protects what we send, once DTLS has keyed it."""
    return dtls._tx_srtp


def incoming_srtp(dtls: RTCDtlsTransport) -> pylibsrtp.Session | None:
    """The SRTP session that unprotects what the peer sends, once DTLS has keyed it."""
    return dtls._rx_srtp


def ice_connection(dtls: RTCDtlsTransport) -> aioice.Connection:
    """The aioice Connection under this DTLS transport's ICE transport."""
    return dtls.transport._connection


# -- startup check -------------------------------------------------------------------------------------


def check() -> list[str]:
    """What changed in the installed aiortc that the fast path relies on (empty when nothing did)."""
    return verdict("aiortc", installed_version(), SUPPORTED, run_probe(_changed), __name__)


async def _changed() -> list[str]:
    # A real, unconnected peer connection: it has every object above without touching the network.
    pc = RTCPeerConnection()
    try:
        changed = missing(pc, "RTCPeerConnection", ["__certificates"])
        certificate = RTCCertificate.generateCertificate()
        if not changed:
            use_certificate(pc, certificate)
        transceiver = pc.addTransceiver("audio")
        sender, receiver = transceiver.sender, transceiver.receiver
        dtls = sender.transport
        changed += missing(transceiver, "RTCRtpTransceiver", ["_codecs"])
        changed += not_callable(receiver, "RTCRtpReceiver", ["_handle_rtp_packet"])
        changed += missing(sender, "RTCRtpSender", SENDER_ATTRIBUTES)
        changed += not_callable(sender, "RTCRtpSender", SENDER_METHODS)
        changed += missing(dtls, "RTCDtlsTransport", ["_tx_srtp", "_rx_srtp"])
        changed += missing(dtls.transport, "RTCIceTransport", ["_connection"])
        if "RTCPeerConnection.__certificates" not in changed and not _uses(dtls, certificate):
            changed.append("RTCPeerConnection.__certificates")  # still there, but DTLS ignores it
        return changed
    finally:
        await pc.close()


def _uses(dtls: Any, certificate: RTCCertificate) -> bool:
    return dtls.getLocalParameters().fingerprints == certificate.getFingerprints()
