"""asyncio internals the media engine uses, checked at startup against SUPPORTED (a Python version).

The fan-out sends on a pair's raw socket (asyncio's DatagramTransport.sendto adds several µs of
checks per packet; the socket is non-blocking already and a full buffer just drops real-time audio),
and a speaker's socket leaves the selector so the mixer reads it once per tick. It needs, from the
selector event loop's datagram transport (asyncio.selector_events in Python 3.11):
- _SelectorDatagramTransport._sock and ._loop
- BaseSelectorEventLoop._remove_reader (the public remove_reader refuses a transport's descriptor)

Another kind of transport (aioice's TURN relay, another event loop) has no raw socket: raw_socket()
and stop_reading() then return None and the callers keep to the transport's public API.
"""

from __future__ import annotations

import asyncio
import platform
import socket

from .pins import run_probe, verdict

SUPPORTED = "3.11"


def installed_version() -> str:
    return platform.python_version()


def raw_socket(transport: asyncio.BaseTransport) -> socket.socket | None:
    """The transport's own non-blocking socket, or None when it is not a plain selector transport."""
    sock = getattr(transport, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def stop_reading(transport: asyncio.BaseTransport) -> socket.socket | None:
    """Take the transport's socket out of its event loop's selector and return it, so its owner reads
    it when it chooses (the protocol gets nothing more from the loop). None, with nothing changed,
    when the transport is closing or is not a plain selector transport."""
    sock = raw_socket(transport)
    loop = getattr(transport, "_loop", None)
    remove_reader = getattr(loop, "_remove_reader", None)
    if sock is None or remove_reader is None or transport.is_closing():
        return None
    remove_reader(sock.fileno())
    return sock


# -- startup check -------------------------------------------------------------------------------------


def check() -> list[str]:
    """What changed in this Python's asyncio that the fast path relies on (empty when nothing did)."""
    return verdict("Python", installed_version(), SUPPORTED, run_probe(_changed), __name__)


async def _changed() -> list[str]:
    # A real UDP endpoint on loopback, on the event loop class this process would run.
    loop = asyncio.get_running_loop()
    received: list[bytes] = []

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple) -> None:
            received.append(data)

    transport, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    kind = type(transport).__name__
    try:
        changed = []
        sock = getattr(transport, "_sock", None)
        public = transport.get_extra_info("socket")
        if not isinstance(sock, socket.socket) or public is None or sock.fileno() != public.fileno():
            changed.append(f"asyncio {kind}._sock")
        if getattr(transport, "_loop", None) is not loop:
            changed.append(f"asyncio {kind}._loop")
        if not callable(getattr(loop, "_remove_reader", None)):
            changed.append(f"asyncio {type(loop).__name__}._remove_reader")
        if changed or sock is None:
            return changed
        # Once stopped, the loop must no longer deliver what arrives; the socket still has it.
        stop_reading(transport)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"probe", transport.get_extra_info("sockname"))
        data = b""
        for _ in range(100):  # loopback delivers at once; allow the loop a few turns anyway
            await asyncio.sleep(0.001)
            try:
                data = sock.recv(16)
                break
            except BlockingIOError:
                continue
        if received or data != b"probe":
            changed.append(f"asyncio {type(loop).__name__}._remove_reader")
        return changed
    finally:
        transport.close()
        await asyncio.sleep(0)  # let the transport close its socket before the loop goes
