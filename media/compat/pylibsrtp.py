"""libsrtp called directly through pylibsrtp's private binding, checked at startup against SUPPORTED.

pylibsrtp's Session.protect() allocates a length cell and copies the packet twice per call; the
fan-out instead encrypts each listener's packet in place in one scratch buffer. It needs:
- pylibsrtp._binding.ffi and .lib     cffi and libsrtp's srtp_protect / srtp_protect_rtcp
- Session._srtp                       the srtp_t context a Session (made by aiortc's DTLS) wraps

The functions here are called when a stream or a scratch buffer is set up. What they return is used
per packet as is: protect_rtp(context, pointer, length) -> libsrtp status (0 is success), encrypting
length[0] bytes at pointer in place and storing the new length in length[0].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pylibsrtp

from .pins import distribution_version as _version
from .pins import verdict

try:
    from pylibsrtp import _binding
except ImportError:  # reported by check(), which media.apps runs at startup
    _binding = None

ffi: Any = getattr(_binding, "ffi", None)
lib: Any = getattr(_binding, "lib", None)

SUPPORTED = "1.0"


def installed_version() -> str:
    return _version("pylibsrtp")


# libsrtp's functions themselves (cffi built-ins: calling them costs no Python frame).
Protect = Callable[[Any, Any, Any], int]
# None only when the binding changed, which check() reports at startup.
protect_rtp = cast(Protect, getattr(lib, "srtp_protect", None))
protect_rtcp = cast(Protect, getattr(lib, "srtp_protect_rtcp", None))


def session_context(session: pylibsrtp.Session) -> Any:
    """The srtp_t to pass to protect_rtp / protect_rtcp. Keep the Session alive as long as you use it:
    its context is freed with it."""
    return session._srtp[0]


def buffer_pointer(buffer: bytearray) -> Any:
    """A char * into buffer's memory (valid while buffer lives and is not resized)."""
    return ffi.from_buffer(buffer)


def length_cell() -> Any:
    """An int * that carries a packet's length into libsrtp and its protected length back."""
    return ffi.new("int *")


# -- startup check -------------------------------------------------------------------------------------

KEY = bytes(range(30))  # 16-byte key + 14-byte salt for AES_CM_128_HMAC_SHA1_80
RTP_PACKET = bytes([0x80, 111, 0, 1, 0, 0, 3, 192, 0, 0, 0, 42]) + b"opus payload"
RTCP_PACKET = bytes([0x81, 203, 0, 1, 0, 0, 0, 42])  # BYE


def check() -> list[str]:
    """What changed in the installed pylibsrtp that the fast path relies on (empty when nothing did)."""
    return verdict("pylibsrtp", installed_version(), SUPPORTED, _changed(), __name__)


def _changed() -> list[str]:
    if lib is None or ffi is None:
        return ["pylibsrtp._binding (ffi, lib)"]
    changed = [f"pylibsrtp._binding.lib.{name}" for name in ("srtp_protect", "srtp_protect_rtcp")
               if not callable(getattr(lib, name, None))]  # fmt: skip
    changed += [f"pylibsrtp._binding.ffi.{name}" for name in ("from_buffer", "new") if not hasattr(ffi, name)]
    if changed:
        return changed
    # A round trip: protect in place as the fan-out does, unprotect with pylibsrtp's public API.
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    sender = pylibsrtp.Session(policy)
    receiver = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    try:
        context = session_context(sender)
    except (AttributeError, TypeError, IndexError):
        return ["Session._srtp"]
    buffer = bytearray(256)
    pointer, length = buffer_pointer(buffer), length_cell()
    for protect, unprotect, packet in ((protect_rtp, receiver.unprotect, RTP_PACKET),
                                       (protect_rtcp, receiver.unprotect_rtcp, RTCP_PACKET)):  # fmt: skip
        buffer[: len(packet)] = packet
        length[0] = len(packet)
        try:
            if protect(context, pointer, length) != 0 or unprotect(bytes(buffer[: length[0]])) != packet:
                return ["Session._srtp (libsrtp's in-place protect no longer round-trips)"]
        except (pylibsrtp.Error, TypeError):
            return ["Session._srtp (libsrtp's in-place protect no longer round-trips)"]
    return []
