"""One subscription per process and room, fanned out to the process's own sockets.

The Channels tutorial pattern (group_add per socket, group_send per event) makes the channel layer carry
one message per listener per event: at 4,000 listeners that loses half the events. Here each process
has one Hub on its event loop. The hub joins the room's group once, when its first local socket enters,
and writes the event's text, serialised once by the sender (live.events), to every local socket.

The hub also keeps presence (live.presence): once a second per room it reports its local count, reads
the total, and sends `presence` to its sockets when something changed — never a message per join.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket as _socket
import time
import weakref
from collections import Counter

import msgspec
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from . import presence, protocol
from .delivery import Subscriber, fan_out, socket_effects, split_by_audience
from .events import HUBS_GROUP, receive_forever, room_group

logger = logging.getLogger(__name__)

TICK = 1.0  # presence at most once a second
REACTION_FLUSH = 0.1  # reactions inside this window go out as one message
DB_COUNT_EVERY = 5.0  # Space.listener_count (home page) is written at most this often per process
ROOM_LINGER = 5.0  # keep the group a few seconds after the last local socket left (reconnects)
HUB_IDLE_STOP = 30.0
MAX_NAMES = protocol.MAX_NAMES_IN_PRESENCE  # joined / left handles per presence message


class Room:
    __slots__ = (
        "space_id", "sockets", "last_seq", "ready", "reported", "reported_at", "total", "sent_total",
        "pending_joined", "pending_left", "local_joined", "local_left", "empty_since", "db_total",
        "db_written_at", "reactions", "reaction_timer",
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


class Hub:
    def __init__(self) -> None:
        self.id = f"{_socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.layer = get_channel_layer()
        self.rooms: dict[int, Room] = {}
        self.presence = presence.backend()
        self.channel = ""
        self.closed = False
        self.idle_since: float | None = time.monotonic()
        self._membership = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._started = asyncio.get_running_loop().create_task(self._start())

    # --- lifecycle -------------------------------------------------------------------------------

    async def _start(self) -> None:
        # The default prefix: channels-redis holds one receive lock per layer, and a channel with another
        # prefix would block it and starve every other process-local channel (consumers, media replies).
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(HUBS_GROUP, self.channel)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive_loop()), loop.create_task(self._tick_loop())]

    async def started(self) -> None:
        await asyncio.shield(self._started)

    async def stop(self) -> None:
        if self.closed:
            return
        self.closed = True
        if _hubs.get(asyncio.get_running_loop()) is self:
            del _hubs[asyncio.get_running_loop()]
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            for room in list(self.rooms.values()):
                await self.presence.forget(room.space_id, self.id)
                if self.channel:
                    await self.layer.group_discard(room_group(room.space_id), self.channel)
            if self.channel:
                await self.layer.group_discard(HUBS_GROUP, self.channel)
            await self.presence.close()
        except Exception:
            logger.exception("hub %s did not stop cleanly", self.id)
        self.rooms.clear()

    # --- sockets ---------------------------------------------------------------------------------

    async def subscribe(self, space_id: int, subscriber: Subscriber) -> bool:
        """Add a local socket to a room; the group is joined before this returns. False: hub closed."""
        if self.closed:
            return False
        room = self.rooms.get(space_id)
        if room is None:
            room = self.rooms[space_id] = Room(space_id)
            room.ready = asyncio.get_running_loop().create_task(self._join_group(room))
        await asyncio.shield(room.ready)
        if self.closed or self.rooms.get(space_id) is not room:
            return False
        room.sockets.add(subscriber)
        room.empty_since = None
        self.idle_since = None
        if subscriber.handle:
            room.local_joined.append(subscriber.handle)
        return True

    def unsubscribe(self, space_id: int, subscriber: Subscriber) -> None:
        room = self.rooms.get(space_id)
        if room is None or subscriber not in room.sockets:
            return
        room.sockets.discard(subscriber)
        if subscriber.handle:
            room.local_left.append(subscriber.handle)
        if not room.sockets:
            room.empty_since = time.monotonic()

    def note_seq(self, space_id: int, seq: int) -> None:
        room = self.rooms.get(space_id)
        if room is not None and seq > room.last_seq:
            room.last_seq = seq

    def last_seq(self, space_id: int) -> int:
        room = self.rooms.get(space_id)
        return room.last_seq if room else 0

    def listener_count(self, space_id: int) -> int | None:
        room = self.rooms.get(space_id)
        if room is None:
            return None
        # Before the first presence tick, at least the sockets this process holds.
        return room.total if room.total is not None else len(room.sockets)

    async def _join_group(self, room: Room) -> None:
        try:
            async with self._membership:
                await self.layer.group_add(room_group(room.space_id), self.channel)
        except Exception:
            if self.rooms.get(room.space_id) is room:
                del self.rooms[room.space_id]
            raise

    # --- channel layer -----------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        async for message in receive_forever(self.layer, self.channel, f"hub {self.id}"):
            try:
                await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub %s failed on %s", self.id, message.get("type"))

    async def _handle(self, message: dict) -> None:
        # Only these message types are understood: nothing a client sends is ever turned into one.
        kind = message.get("type")
        if kind == "hub.logout":
            await self._close_user(message["user_id"], protocol.CLOSE_LOGGED_OUT)
            return
        room = self.rooms.get(message.get("space_id"))  # type: ignore[arg-type]
        if room is None:
            return
        if kind == "room.event":
            await self._on_delta(room, message)
        elif kind == "room.volatile":
            event = msgspec.convert(message["event"], protocol.events.ServerEvent)
            self._send_all(room, protocol.encode(msgspec.structs.replace(event, seq=room.last_seq)))
        elif kind == "room.reaction":
            self._on_reaction(room, message)
        elif kind == "room.presence":
            room.pending_joined.extend(message.get("joined", ()))
            room.pending_left.extend(message.get("left", ()))

    async def _on_delta(self, room: Room, message: dict) -> None:
        """Write a numbered delta to the room's sockets (its stub to those outside its audience), then
        carry out what it says about sockets."""
        seq = message["seq"]
        if seq > room.last_seq:
            room.last_seq = seq
        sockets = tuple(room.sockets)
        allowed, others = split_by_audience(message, sockets)
        await fan_out(allowed, message["text"])
        if others:
            await fan_out(others, message["stub"])
        for effect in socket_effects(message):
            await self._apply(effect, sockets)

    async def _apply(self, effect: protocol.SocketEffect, sockets: tuple[Subscriber, ...]) -> None:
        if isinstance(effect, protocol.CloseSockets):
            for subscriber in sockets:
                if effect.user_id is None or subscriber.user_id == effect.user_id:
                    await subscriber.close_from_hub(effect.code)
        elif isinstance(effect, protocol.RoleSet):
            for subscriber in sockets:
                if subscriber.user_id == effect.user_id and subscriber.is_moderator != effect.is_moderator:
                    # Requests and invites were hidden from them until now (or must be hidden again).
                    subscriber.is_moderator = effect.is_moderator
                    subscriber.resync()

    def _on_reaction(self, room: Room, message: dict) -> None:
        room.reactions.append(message)
        if room.reaction_timer is None:
            loop = asyncio.get_running_loop()
            room.reaction_timer = loop.call_later(REACTION_FLUSH, lambda: loop.create_task(self._flush_reactions(room)))

    async def _flush_reactions(self, room: Room) -> None:
        room.reaction_timer = None
        batch, room.reactions = room.reactions, []
        if not batch:
            return
        # Coalesced: one message per window, counted per emoji, with a few names for the animation.
        counts = Counter(item.get("emoji") for item in batch)
        users: dict[str, list[str]] = {}
        for item in batch:
            names = users.setdefault(item.get("emoji"), [])
            if len(names) < 5 and item.get("user") not in names:
                names.append(item.get("user"))
        reactions = [
            protocol.ReactionCount(emoji=emoji, count=count, users=users[emoji]) for emoji, count in counts.items()
        ]
        await self._deliver_all(room, protocol.encode(protocol.Reactions(seq=room.last_seq, reactions=reactions)))

    def _send_all(self, room: Room, text: str) -> None:
        asyncio.get_running_loop().create_task(self._deliver_all(room, text))

    async def _deliver_all(self, room: Room, text: str) -> None:
        await fan_out(tuple(room.sockets), text)

    async def _close_user(self, user_id: int, code: int) -> None:
        for room in list(self.rooms.values()):
            for subscriber in tuple(room.sockets):
                if subscriber.user_id == user_id:
                    await subscriber.close_from_hub(code)

    # --- presence ------------------------------------------------------------------------------------

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
                    logger.exception("presence tick failed for space %s", room.space_id)
            if self.rooms:
                self.idle_since = None
            elif self.idle_since is None:
                self.idle_since = now
            elif now - self.idle_since > HUB_IDLE_STOP:
                asyncio.get_running_loop().create_task(self.stop())
                return

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
        await self.presence.forget(room.space_id, self.id)
        # Nobody else may be left to write the home page's count.
        await self._write_count(room, await self.presence.total(room.space_id), time.monotonic())
        async with self._membership:
            if room.space_id not in self.rooms:
                await self.layer.group_discard(room_group(room.space_id), self.channel)

    async def _write_count(self, room: Room, total: int, now: float) -> None:
        room.db_total, room.db_written_at = total, now
        await _save_listener_count(room.space_id, total)


@database_sync_to_async
def _save_listener_count(space_id: int, total: int) -> None:
    from rooms.models import Space

    Space.objects.filter(pk=space_id, state=Space.State.LIVE).update(listener_count=total)


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


async def get_hub() -> Hub:
    """This event loop's hub, started on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.closed:
        hub = _hubs[loop] = Hub()
    await hub.started()
    return hub


async def join(space_id: int, subscriber: Subscriber) -> Hub:
    """Subscribe a socket to its room through this process's hub."""
    while True:
        hub = await get_hub()
        if await hub.subscribe(space_id, subscriber):
            return hub


async def shutdown() -> None:
    """Stop this loop's hub (tests; a server just lets it idle out)."""
    hub = _hubs.get(asyncio.get_running_loop())
    if hub is not None:
        await hub.stop()
