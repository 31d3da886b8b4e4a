"""Writing ready-made websocket frames straight to Daphne's transport, checked against SUPPORTED.

Daphne hands an ASGI application `send = functools.partial(server.handle_reply, protocol)`. Going
through it costs a dict, two coroutines, a UTF-8 encode and Autobahn's framing per socket per event;
the hub builds a frame once per event (live.delivery.text_frame: Daphne negotiates no compression, and an
uncompressed frame is valid either way) and writes those bytes to each socket. That relies on:

- daphne.server.Server.create_application passing that partial as `send` (Daphne 4.2)
- channels' SessionMiddleware (in AuthMiddlewareStack) wrapping it in InstanceSessionWrapper.send,
  which keeps the partial as `real_send` and passes websocket messages to it unchanged (channels 4.3)
- the protocol's `transport` (Twisted's TCP transport; write() is public Twisted API)
- the protocol's `state` and `STATE_OPEN` (Autobahn's WebSocketProtocol), so nothing is written
  before the handshake or after a close
- the transport's unsent bytes (Twisted's FileDescriptor `dataBuffer`, `offset`, `_tempDataLen`) and its
  `abortConnection()`, for the slow-client policy (`outgoing()`)
- Twisted's reactor running Daphne's asyncio loop (`reactor._asyncioEventloop`) and its "before shutdown"
  triggers, so a process leaves its channel-layer groups on SIGTERM (`call_before_shutdown()`)

A consumer asks for a writer once its socket is open, never per frame:

    from .daphne_compat import frame_writer
    self.fast_write = None if self.closing else frame_writer(self.base_send)

frame_writer() returns None under another server (or channels' test communicator): deliver() then
sends through ASGI as usual. Importing this module runs check() and raises IncompatibleDaphne (an
ImproperlyConfigured) when the installed Daphne or channels is not the one this was checked against,
e.g. "Daphne 4.3.0 changed WebSocketProtocol.STATE_OPEN; the websocket fast path supports 4.2", so a
process that serves the room refuses to start instead of writing to a socket it no longer
understands. After upgrading Daphne or channels: check the points above, then change SUPPORTED.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import daphne.server  # first: it installs Twisted's asyncio reactor
from channels.sessions import InstanceSessionWrapper
from django.core.exceptions import ImproperlyConfigured
from twisted.internet.testing import StringTransport

logger = logging.getLogger(__name__)

SUPPORTED = {"daphne": "4.2", "channels": "4.3"}
LIBRARY_NAMES = {"daphne": "Daphne", "channels": "channels"}
SUBJECT = "the websocket fast path"
# Middleware wrappers between Daphne and a consumer are few (one SessionMiddleware in our stack).
MAX_WRAPPERS = 4

__all__ = [
    "IncompatibleDaphne", "Outgoing", "SUPPORTED", "buffered_bytes", "call_before_shutdown", "check", "daphne_protocol",
    "frame_writer", "outgoing", "verify",
]  # fmt: skip


class IncompatibleDaphne(ImproperlyConfigured):
    """The installed Daphne or channels is not the one frame_writer was written against."""


def installed_version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


def daphne_protocol(send: Callable[..., Any]) -> Any:
    """The Daphne protocol behind an ASGI send callable, seen through channels' session middleware,
    or None if send does not end at Daphne."""
    for _ in range(MAX_WRAPPERS):
        if isinstance(send, functools.partial):
            if len(send.args) == 1 and not send.keywords and _is_handle_reply(send.func):
                return send.args[0]
            return None
        wrapper = getattr(send, "__self__", None)
        if not isinstance(wrapper, InstanceSessionWrapper) or getattr(send, "__func__", None) is not _SESSION_SEND:
            return None
        send = wrapper.real_send  # it passes websocket messages on unchanged
    return None


def frame_writer(send: Callable[..., Any]) -> Callable[[bytes], None] | None:
    """A function that writes one complete websocket frame to the socket behind send while it is open
    (and drops it once it is not), or None when send does not end at Daphne."""
    protocol = daphne_protocol(send)
    transport = getattr(protocol, "transport", None)
    open_state = getattr(protocol, "STATE_OPEN", None)
    if transport is None or open_state is None:
        return None
    write_to_transport = transport.write

    def write(frame: bytes) -> None:
        if protocol.state == open_state:
            write_to_transport(frame)

    return write


def _is_handle_reply(function: Any) -> bool:
    return getattr(function, "__func__", None) is daphne.server.Server.handle_reply


_SESSION_SEND = getattr(InstanceSessionWrapper, "send", None)


# -- startup check -------------------------------------------------------------------------------------


def check() -> list[str]:
    """What changed in the installed Daphne or channels that frame_writer relies on (empty if nothing)."""
    changed = _run_on_fresh_loop(_changed)
    problems = []
    for distribution, supported in SUPPORTED.items():
        installed, library = installed_version(distribution), LIBRARY_NAMES[distribution]
        if changed[distribution]:
            problems.append(f"{library} {installed} changed {', '.join(changed[distribution])}; {SUBJECT} supports "
                            f"{supported}")  # fmt: skip
        elif installed != supported and not installed.startswith(supported + "."):
            problems.append(
                f"{library} {installed} is not a version {SUBJECT} was checked against; it supports {supported} "
                f"(read what live/daphne_compat.py relies on against {installed}, then change SUPPORTED there)"
            )
    return problems


def verify() -> None:
    """Raise IncompatibleDaphne naming what check() finds."""
    problems = check()
    if problems:
        raise IncompatibleDaphne("The websocket fast path cannot run: " + "; ".join(problems))


async def _changed() -> dict[str, list[str]]:
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol

    daphne_changes: list[str] = []
    changed = {"daphne": daphne_changes, "channels": []}
    states = [getattr(WebSocketProtocol, name, None) for name in ("STATE_OPEN", "STATE_CLOSING", "STATE_CLOSED")]
    if not isinstance(states[0], int) or states[0] in states[1:]:
        daphne_changes.append("WebSocketProtocol.STATE_OPEN")
    # Daphne's own objects, unconnected: a Server (it listens only in run()) and a protocol from its
    # factory on Twisted's in-memory transport (no handshake timeout, so the reactor gets no timer).
    sends: list[Callable[..., Any]] = []

    async def application(scope: dict, receive: Callable, send: Callable) -> None:
        sends.append(send)

    server = daphne.server.Server(application=application, endpoints=["tcp:port=0:interface=127.0.0.1"])
    protocol: Any = WebSocketFactory(server, server="Daphne").buildProtocol(None)
    server.connections = {protocol: {}}
    server.create_application(protocol, {"type": "websocket"})
    await asyncio.sleep(0)
    if not sends or daphne_protocol(sends[0]) is not protocol:
        daphne_changes.append("Server.create_application (send is no longer partial(handle_reply, protocol))")
        return changed
    changed["channels"] = await _session_wrapper_changes(sends[0], protocol)
    protocol.openHandshakeTimeout = 0
    transport = StringTransport()
    protocol.makeConnection(transport)
    if getattr(protocol, "transport", None) is not transport:
        daphne_changes.append("WebSocketProtocol.transport")
    if not isinstance(getattr(protocol, "state", None), int):
        daphne_changes.append("WebSocketProtocol.state")
    write = frame_writer(sends[0])
    if daphne_changes or write is None:
        return changed
    write(b"early")  # still connecting: dropped
    protocol.state = protocol.STATE_OPEN
    write(b"frame")
    if transport.value() != b"frame":
        daphne_changes.append("WebSocketProtocol.state")
    daphne_changes.extend(_write_buffer_changes())
    return changed


async def _session_wrapper_changes(send: Callable[..., Any], protocol: Any) -> list[str]:
    if _SESSION_SEND is None:
        return ["InstanceSessionWrapper.send"]
    # As SessionMiddleware builds it when an outer session middleware already set one (nothing to load).
    forwarded: list[dict] = []

    async def record(message: dict) -> None:
        forwarded.append(message)

    message = {"type": "websocket.send", "text": "probe"}
    await InstanceSessionWrapper({"type": "websocket", "session": None}, record).send(message)
    if forwarded != [message]:
        return ["InstanceSessionWrapper.send (no longer passes websocket messages on)"]
    wrapped = InstanceSessionWrapper({"type": "websocket", "session": None}, send)
    if getattr(wrapped, "real_send", None) is not send or daphne_protocol(wrapped.send) is not protocol:
        return ["InstanceSessionWrapper.real_send"]
    return []


# -- the socket behind the writer: its unsent bytes, and shutdown ------------------------------------------


class Outgoing:
    """The TCP transport under a Daphne websocket: how much is written but not yet sent, and a hard close.

    Twisted's transports (FileDescriptor) keep what the kernel has not taken in `dataBuffer` (from
    `offset`) plus `_tempDataBuffer` (`_tempDataLen` bytes): a client that stops reading makes these
    grow without bound, so the consumer reads their size after writing (the slow-client policy).
    """

    __slots__ = ("transport",)

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def buffered(self) -> int:
        return buffered_bytes(self.transport)

    def abort(self) -> None:
        """Drop the connection now, unsent bytes and all (a close frame would wait behind them)."""
        self.transport.abortConnection()


def outgoing(send: Callable[..., Any]) -> Outgoing | None:
    """The transport behind send, or None when send does not end at Daphne."""
    transport = getattr(daphne_protocol(send), "transport", None)
    return None if transport is None else Outgoing(transport)


def buffered_bytes(transport: Any) -> int:
    """Bytes written to a Twisted FileDescriptor transport that the kernel has not taken yet."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def _write_buffer_changes() -> list[str]:
    from twisted.internet.abstract import FileDescriptor

    class Reactor:  # FileDescriptor.write asks its reactor to watch for writability
        def addWriter(self, descriptor: Any) -> None: ...

        def removeWriter(self, descriptor: Any) -> None: ...

    descriptor = FileDescriptor(reactor=Reactor())  # type: ignore[arg-type]
    descriptor.connected = True
    try:
        descriptor.write(b"12345")
        if buffered_bytes(descriptor) == 5:
            return []
    except (AttributeError, TypeError):
        pass
    return ["Twisted's FileDescriptor write buffer (dataBuffer, offset, _tempDataLen)"]


def call_before_shutdown(callback: Callable[[], Any], timeout: float) -> bool:
    """Have Twisted's reactor (Daphne's) await `callback()` before it shuts down (SIGTERM, Ctrl-C), for
    at most `timeout` seconds. False when no reactor runs this event loop (not under Daphne)."""
    from twisted.internet import defer, reactor

    loop = asyncio.get_running_loop()
    if not getattr(reactor, "running", False) or getattr(reactor, "_asyncioEventloop", None) is not loop:
        return False

    def before_shutdown() -> defer.Deferred:
        done = defer.Deferred.fromFuture(asyncio.ensure_future(asyncio.wait_for(callback(), timeout)))
        return done.addErrback(lambda failure: logger.warning("shutdown step failed: %s", failure.value))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)  # type: ignore[arg-type]
    return True


def _run_on_fresh_loop(probe: Callable[[], Any]) -> Any:
    # Daphne's application task needs a running asyncio loop; the importer may be inside one already.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="daphne-compat-probe") as pool:
        return pool.submit(lambda: asyncio.run(probe())).result()


verify()
