"""Room events from the channel layer to the engine: the engine joins group space-<id> per room and carries
out each delta's media instruction (who may be heard changed, a user was removed, the Space ended)."""

from __future__ import annotations

import asyncio
import logging

from live.events import receive_forever, room_group
from live.protocol import MediaEffect

from .engine import MediaEngine

logger = logging.getLogger(__name__)


class RoomEvents:
    """Subscribes one engine to the groups of the rooms it hosts and feeds it their events."""

    def __init__(self, engine: MediaEngine, layer) -> None:
        self.engine = engine
        self.layer = layer
        self.channel: str | None = None
        self._task: asyncio.Task | None = None
        self.watched: set[int] = set()

    async def start(self) -> None:
        if self.channel is None:
            self.channel = await self.layer.new_channel()
            self._task = asyncio.ensure_future(self._run())

    async def watch(self, space_id: int) -> None:
        await self.start()
        self.watched.add(space_id)
        await self.layer.group_add(room_group(space_id), self.channel)

    async def unwatch(self, space_id: int) -> None:
        self.watched.discard(space_id)
        if self.channel is not None:
            await self.layer.group_discard(room_group(space_id), self.channel)

    async def _run(self) -> None:
        assert self.channel is not None  # start() made it
        async for message in receive_forever(self.layer, self.channel, "media engine (room events)"):
            if message.get("space_id") not in self.watched:
                continue
            if message.get("type") == "room.reaction":  # the recording keeps reactions on the replay's clock
                self.engine.note_reaction(int(message["space_id"]), str(message.get("emoji", "")))
                continue
            if message.get("type") != "room.event":
                continue
            try:
                await self.apply(int(message["space_id"]), message.get("media"), message.get("user_id"))
            except Exception:
                logger.exception("media engine failed on a room event")

    async def apply(self, space_id: int, effect: MediaEffect | None, user_id: int | None) -> None:
        """Carry out what a delta says about audio (live.protocol.Delta.media_effect)."""
        if effect == "end_room":
            await self.engine.end_room(space_id)
        elif effect == "remove_user" and user_id is not None:
            await self.engine.remove_user(space_id, int(user_id))
        elif effect == "refresh":
            await self.engine.refresh_room(space_id)

    async def stop(self) -> None:
        for space_id in list(self.watched):
            await self.unwatch(space_id)
        if self._task is not None:
            self._task.cancel()
