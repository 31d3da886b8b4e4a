"""Adapters over the private internals of the libraries the media fast path reaches into.

The fast path (media/fanout.py, media/speaker.py) writes each listener's RTP itself and reads
speakers' sockets on the mixer's clock, so it needs things aiortc, aioice, pylibsrtp and asyncio keep
private: SRTP sessions, the nominated ICE pair, libsrtp's C functions, a transport's raw socket. Every
such access lives in one module per library here, and nowhere else in media/:

- media/compat/aiortc.py     RTCDtlsTransport, RTCRtpSender, RTCRtpReceiver, RTCRtpTransceiver,
                             RTCPeerConnection and RTCIceTransport internals
- media/compat/aioice.py     Connection._nominated
- media/compat/pylibsrtp.py  pylibsrtp._binding (ffi, lib) and Session._srtp
- media/compat/asyncio.py    the selector datagram transport's socket and loop, loop._remove_reader

The adapters hand back bound objects at attach time (a socket's sendto, libsrtp's protect function
and a session's context), never a wrapper per packet: the per-listener loop stays as fast as before.

Each names the version it was written against (SUPPORTED) and has a check() that returns what is
wrong, e.g. "aiortc 1.17.0 changed RTCDtlsTransport._rx_srtp; the fast path supports 1.16". verify()
runs them all; media.apps calls it at startup, so Daphne, runmedia and every manage.py command
refuse to start rather than fail on the first call. After upgrading one of these libraries: read
what its adapter uses against the new release, then change SUPPORTED there.
"""

from __future__ import annotations

from . import aioice, aiortc, asyncio, pylibsrtp
from .pins import IncompatibleLibrary

__all__ = ["IncompatibleLibrary", "check", "verify"]


def check() -> list[str]:
    """Every problem the four adapters find on the installed libraries (empty when all is well)."""
    return [*aiortc.check(), *aioice.check(), *pylibsrtp.check(), *asyncio.check()]


def verify() -> None:
    """Raise IncompatibleLibrary (an ImproperlyConfigured) naming every problem check() finds."""
    problems = check()
    if problems:
        raise IncompatibleLibrary("The media fast path cannot run:\n  " + "\n  ".join(problems))
