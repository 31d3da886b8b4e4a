"""Writing one room event to many local sockets: who gets the text and who the stub, the frame built
once, and what a delta says about sockets. The hub (live.hub) calls these; so do the tests."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

import msgspec

from . import protocol

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    """A local socket as the hub sees it (live.consumers.RoomConsumer)."""

    user_id: int | None
    handle: str | None
    session_key: str | None  # the session that logged the socket in (None: anonymous)
    is_moderator: bool
    # Set while the socket is open on Daphne: writes a ready-made websocket frame to the TCP transport.
    fast_write: Callable[[bytes], None] | None

    async def deliver(self, text: str) -> None: ...

    async def close_from_hub(self, code: int) -> None: ...

    def resync(self) -> None: ...


S = TypeVar("S", bound=Subscriber)


def split_by_audience(message: dict, sockets: Sequence[S]) -> tuple[Sequence[S], list[S]]:
    """The sockets that may read a delta, and those that get its `noop` stub instead."""
    if message["audience"] is None:
        return sockets, []
    audience = msgspec.convert(message["audience"], protocol.Audience)
    user_ids = set(audience.user_ids)
    allowed: list[S] = []
    others: list[S] = []
    for subscriber in sockets:
        sees_it = (audience.moderators and subscriber.is_moderator) or subscriber.user_id in user_ids
        (allowed if sees_it else others).append(subscriber)
    return allowed, others


def socket_effects(message: dict) -> list[protocol.SocketEffect]:
    """What a delta tells the hub to do with its sockets once it is written."""
    return msgspec.convert(message["sockets"], list[protocol.SocketEffect])


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented websocket text frame (RFC 6455 5.2), as a server sends it."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


async def fan_out(sockets: Iterable[Subscriber], text: str) -> None:
    """Send `text` to every socket: the same frame bytes to each, built once per process."""
    frame = None
    for subscriber in sockets:
        write = subscriber.fast_write
        try:
            if write is not None:
                if frame is None:
                    frame = text_frame(text)
                write(frame)
            else:
                await subscriber.deliver(text)
        except Exception:  # one broken socket must not stop the others
            logger.debug("delivery failed", exc_info=True)
