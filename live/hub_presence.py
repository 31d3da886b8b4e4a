"""A hub's rooms and their presence: what a Hub (live.hub) knows about each room it serves, and the
once-a-second tick that reports this process's sockets and users, reads the room's totals and tells the
local sockets (`presence`), writes the home page's count, and drops a room its last socket left."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from . import presence, protocol
from .delivery import Subscriber, fan_out
from .events import room_group

if TYPE_CHECKING:
    from channels.layers import BaseChannelLayer

logger = logging.getLogger(__name__)

TICK = 1.0  # presence at most once a second
DB_COUNT_EVERY = 5.0  # Space.listener_count (home page) is written at most this often per process
ROOM_LINGER = 5.0  # keep the group a few seconds after the last local socket left (reconnects)
MAX_NAMES = protocol.MAX_NAMES_IN_PRESENCE  # joined / left handles per presence message


class Room:
    __slots__ = (
        "space_id", "sockets", "last_seq", "ready", "reported", "reported_at", "total", "sent_total",
        "pending_joined", "pending_left", "local_joined", "local_left", "empty_since", "db_total",
        "db_written_at", "reactions", "reaction_timer", "joined", "audience_dirty", "audience_at",
    )  # fmt: skip

    def __init__(self, space_id: int) -> None:
        self.space_id = space_id
        self.sockets: set[Subscriber] = set()
        self.last_seq = 0
        self.ready: asyncio.Task | None = None
        self.reported: int | None = None
        self.reported_at = 0.0
        self.total: int | None = None
        self.sent_total: int | None = None
        self.pending_joined: list[str] = []  # from every process, to tell local sockets
        self.pending_left: list[str] = []
        self.local_joined: list[str] = []  # from this process, to tell every process
        self.local_left: list[str] = []
        self.empty_since: float | None = None
        self.db_total: int | None = None
        self.db_written_at = 0.0
        self.reactions: list[dict] = []
        self.reaction_timer: asyncio.TimerHandle | None = None
        self.joined = False  # in the room's channel-layer group (False: the keeper retries)
        self.audience_dirty = True
        self.audience_at = 0.0


class PresenceTicks:
    """The Hub's presence tick (a mixin: it works on the hub's rooms, layer and presence store)."""

    id: str
    channel: str
    trouble: bool
    layer: BaseChannelLayer
    presence: presence.LocalPresence | presence.RedisPresence
    rooms: dict[int, Room]
    _membership: asyncio.Lock

    def _note_trouble(self) -> None:
        raise NotImplementedError

    async def _deliver_all(self, room: Room, text: str) -> None:
        await fan_out(tuple(room.sockets), text)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for room in list(self.rooms.values()):
                try:
                    await self._tick_room(room, now)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if not self.trouble:  # once per outage, not once a second
                        logger.exception("presence tick failed for space %s", room.space_id)
                    self._note_trouble()

    async def _tick_room(self, room: Room, now: float) -> None:
        if room.ready is None or not room.ready.done():
            return
        count = len(room.sockets)
        if room.empty_since is not None and now - room.empty_since >= ROOM_LINGER:
            await self._drop_room(room)
            return
        if count != room.reported or now - room.reported_at >= presence.heartbeat():
            await self.presence.report(room.space_id, self.id, count)
            room.reported, room.reported_at = count, now
        if room.audience_dirty or now - room.audience_at >= presence.heartbeat():
            room.audience_dirty = False
            user_ids = sorted({s.user_id for s in room.sockets if s.user_id is not None})
            anonymous = sum(1 for s in room.sockets if s.user_id is None)
            try:
                await self.presence.report_audience(room.space_id, self.id, user_ids, anonymous)
            except Exception:
                room.audience_dirty = True
                raise
            room.audience_at = now
        if room.local_joined or room.local_left:
            joined, left = room.local_joined[:MAX_NAMES], room.local_left[:MAX_NAMES]
            room.local_joined, room.local_left = [], []
            await self.layer.group_send(
                room_group(room.space_id),
                {"type": "room.presence", "space_id": room.space_id, "joined": joined, "left": left},
            )
        if not count:
            return
        room.total = await self.presence.total(room.space_id)
        if room.total != room.sent_total or room.pending_joined or room.pending_left:
            body = protocol.Presence(
                seq=room.last_seq,
                listener_count=room.total,
                joined=_unique(room.pending_joined)[:MAX_NAMES],
                left=_unique(room.pending_left)[:MAX_NAMES],
            )
            room.pending_joined, room.pending_left = [], []
            room.sent_total = room.total
            await self._deliver_all(room, protocol.encode(body))
        if room.total != room.db_total and now - room.db_written_at >= DB_COUNT_EVERY:
            await self._write_count(room, room.total, now)

    async def _drop_room(self, room: Room) -> None:
        if self.rooms.get(room.space_id) is room:
            del self.rooms[room.space_id]
        async with self._membership:
            if room.space_id not in self.rooms:
                await self.layer.group_discard(room_group(room.space_id), self.channel)
        await self.presence.forget(room.space_id, self.id)
        # Nobody else may be left to write the home page's count.
        await self._write_count(room, await self.presence.total(room.space_id), time.monotonic())

    async def _write_count(self, room: Room, total: int, now: float) -> None:
        room.db_total, room.db_written_at = total, now
        await _save_listener_count(room.space_id, total)


@database_sync_to_async
def _save_listener_count(space_id: int, total: int) -> None:
    from rooms.models import Space

    Space.objects.filter(pk=space_id, state=Space.State.LIVE).update(listener_count=total)


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
