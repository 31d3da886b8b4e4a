"""A media worker process (`manage.py runmedia`): hosts the rooms Redis places on it.

Signalling reaches it over the channel layer: Daphne sends {"type": "media.negotiate", ...} to the
worker's inbox channel (published in its heartbeat) and waits on a reply channel of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid

from live.events import receive_forever
from live.media_port import MediaError

from .bridge import RoomEvents
from .engine import MediaEngine, Policy
from .limits import PeerCaps, PeerLimits
from .placement import DEFAULT_PREFIX, Placement

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 1.0


class MediaWorker:
    def __init__(self, layer, redis_url: str, *, policy: Policy | None = None, on_levels=None,
                 ice_servers: list[dict] | None = None, prefix: str = DEFAULT_PREFIX,
                 limits: PeerLimits | None = None) -> None:  # fmt: skip
        recorders = None
        if policy is None:
            from .policy import DjangoPolicy, publish_levels
            from .recorder_store import django_recorders

            policy, on_levels = DjangoPolicy(), on_levels or publish_levels
            # Records the rooms placed here, and feeds their plain-HTTP listeners (over Redis) when asked.
            recorders = django_recorders(remote_feed=True)
        self.layer = layer
        self.placement = Placement(redis_url, prefix)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.engine = MediaEngine(
            policy,
            on_levels=on_levels,
            on_room_created=self._room_created,
            on_room_freed=self._room_freed,
            ice_servers=ice_servers,
            recorders=recorders,
            limits=limits or PeerLimits(PeerCaps.from_settings()),
        )
        self.events = RoomEvents(self.engine, layer)
        self.channel = ""  # its inbox on the channel layer, once run() starts
        self._tasks: set[asyncio.Task] = set()

    async def _room_created(self, space_id: int) -> None:
        await self.events.watch(space_id)

    async def _room_freed(self, space_id: int) -> None:
        await self.events.unwatch(space_id)
        await self.placement.release_room(space_id, self.worker_id)

    async def run(self, stop: asyncio.Event) -> None:
        # Default prefix on purpose: channels_redis reads all of a process's "specific." channels with
        # one BZPOPMIN, while channels with another prefix would wait on its single receive lock.
        self.channel = await self.layer.new_channel()
        await self.events.start()
        heartbeat = asyncio.ensure_future(self._heartbeat())
        inbox = asyncio.ensure_future(self._inbox())
        logger.info("media worker %s listening on %s", self.worker_id, self.channel)
        try:
            await stop.wait()
        finally:
            heartbeat.cancel()
            inbox.cancel()
            await self.placement.retire(self.worker_id, list(self.engine.rooms))
            await self.engine.close()
            await self.events.stop()
            await self.placement.close()

    async def _heartbeat(self) -> None:
        cpu, wall = time.process_time(), time.monotonic()
        while True:
            now_cpu, now_wall = time.process_time(), time.monotonic()
            load = {**self.engine.load(), "cpu": round((now_cpu - cpu) / max(now_wall - wall, 1e-3), 3)}
            cpu, wall = now_cpu, now_wall
            try:
                await self.placement.heartbeat(self.worker_id, self.channel, load)
                # Taken for dead while stalled and the room placed elsewhere: let its clients go
                # there rather than split the room across two workers.
                for space_id in await self.placement.rooms_moved_away(self.worker_id, list(self.engine.rooms)):
                    logger.warning("space %s moved to another worker; closing it here", space_id)
                    await self.engine.end_room(space_id)
            except Exception:
                logger.exception("media worker heartbeat failed")
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def _inbox(self) -> None:
        async for message in receive_forever(self.layer, self.channel, "media worker (inbox)"):
            if message.get("type") == "media.negotiate":
                task = asyncio.ensure_future(self._negotiate(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _negotiate(self, message: dict) -> None:
        reply: dict
        try:
            answer = await self.engine.negotiate(
                int(message["space_id"]), message.get("user_id"), message["sdp"], message.get("sdp_type", "offer"),
                socket_id=message.get("socket_id"), address=message.get("address"),
            )  # fmt: skip
            reply = {"type": "media.answer", **answer}
        except MediaError as exc:
            reply = {"type": "media.answer", "error": str(exc)}
        except Exception:
            logger.exception("media negotiation failed")
            reply = {"type": "media.answer", "error": "The media server failed. Try again."}
        await self.layer.send(message["reply"], reply)
