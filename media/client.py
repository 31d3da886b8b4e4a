"""What the room's websocket consumer calls: negotiate(space_id, user_id, sdp, type) -> answer.

Embedded default (no REDIS_URL): the engine runs inside this Daphne process. With REDIS_URL set the
room is placed on a `manage.py runmedia` worker through Redis and the offer travels to it over the
channel layer.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from channels.layers import get_channel_layer
from django.conf import settings

from live.media_port import MediaError

from .engine import MediaEngine
from .limits import PeerCaps, PeerLimits

__all__ = ["MediaError", "negotiate", "local_engine", "refresh_room", "shutdown"]

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT = 5.0

# One engine per event loop (Daphne has one; each async test has its own).
_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaEngine] = weakref.WeakKeyDictionary()
_placements: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def in_process() -> bool:
    return settings.SPACES_MEDIA_IN_PROCESS


async def local_engine() -> MediaEngine:
    """This event loop's engine, created on first use and subscribed to room events."""
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        from .bridge import RoomEvents
        from .policy import DjangoPolicy, publish_levels
        from .recorder_store import django_recorders

        engine = MediaEngine(DjangoPolicy(), on_levels=publish_levels, recorders=django_recorders(remote_feed=False),
                             limits=PeerLimits(PeerCaps.from_settings()))  # fmt: skip
        layer = get_channel_layer()
        if layer is not None:
            events = RoomEvents(engine, layer)
            engine.on_room_created = events.watch
            engine.on_room_freed = events.unwatch
            engine.room_events = events
        _engines[loop] = engine
    return engine


async def shutdown() -> None:
    """Close this loop's engine: every peer connection ends (tests; Daphne just exits)."""
    placement = _placements.pop(asyncio.get_running_loop(), None)
    if placement is not None:
        await placement.close()
    engine = _engines.pop(asyncio.get_running_loop(), None)
    if engine is not None:
        await engine.close()
        events = getattr(engine, "room_events", None)
        if events is not None:
            await events.stop()


async def negotiate(space_id: int, user_id: int | None, sdp: str, type: str, *,  # noqa: A002
                    socket_id: str | None = None, address: str | None = None) -> dict:  # fmt: skip
    """Answer a browser's offer for this room. Raises MediaError(reason) on refusal.

    `socket_id` (the room socket's) and `address` (the client's) feed the engine's peer caps (media.limits)."""
    if type != "offer":
        raise MediaError("Send an SDP offer.")
    if in_process():
        engine = await local_engine()
        return await engine.negotiate(space_id, user_id, sdp, type, socket_id=socket_id, address=address)
    return await _negotiate_remote(space_id, user_id, sdp, socket_id, address)


async def refresh_room(space_id: int) -> None:
    """Re-read who may be heard now (in-process engine; workers follow the room's events)."""
    engine = _engines.get(asyncio.get_running_loop())
    if engine is not None:
        await engine.refresh_room(space_id)


async def _negotiate_remote(space_id: int, user_id: int | None, sdp: str, socket_id: str | None,
                            address: str | None) -> dict:  # fmt: skip
    from .placement import Placement

    loop = asyncio.get_running_loop()
    placement = _placements.get(loop)
    if placement is None:
        placement = _placements[loop] = Placement(settings.REDIS_URL, settings.SPACES_MEDIA_REDIS_PREFIX)
    layer = get_channel_layer()
    for _attempt in range(2):
        worker = await placement.worker_for(space_id)
        if worker is None:
            raise MediaError("No media server is available right now.")
        reply = await layer.new_channel()
        await layer.send(
            worker["channel"],
            {"type": "media.negotiate", "space_id": space_id, "user_id": user_id, "sdp": sdp, "sdp_type": "offer",
             "socket_id": socket_id, "address": address, "reply": reply},
        )  # fmt: skip
        try:
            message = await asyncio.wait_for(layer.receive(reply), ANSWER_TIMEOUT)
        except TimeoutError:
            logger.warning("media worker %s did not answer for space %s", worker["id"], space_id)
            if not await placement.is_alive(worker["id"]):
                await placement.release_room(space_id, worker["id"])  # dead: the next attempt places it again
            continue
        if message.get("error"):
            raise MediaError(message["error"])
        return {"sdp": message["sdp"], "type": "answer"}
    raise MediaError("The media server did not answer. Try again.")
