"""One subscription per process and room, fanned out to the process's own sockets.

The Channels tutorial pattern (group_add per socket, group_send per event) makes the channel layer carry
one message per listener per event: at 4,000 listeners that loses half the events. Here each process
has one Hub on its event loop. The hub joins the room's group once, when its first local socket enters,
and writes the event's text, serialised once by the sender (live.events), to every local socket.

The hub also keeps presence (live.presence): once a second per room it reports its local count and the
users it holds (the audience registry), reads the total, and sends `presence` to its sockets when
something changed — never a message per join.

It lives as long as its process and survives Redis failing under it: a room group it could not join is
retried (the socket still gets its snapshot), every membership is re-added well inside the layer's group
expiry, and after any failure the hub joins its groups again and sends a fresh snapshot to the sockets of
rooms that moved on meanwhile. Under Daphne it leaves its groups and withdraws its presence on shutdown.
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
from .channel_layer import forget_channel
from .delivery import Subscriber, fan_out, socket_effects, split_by_audience
from .events import HUBS_GROUP, current_seq, receive_forever, room_group
from .hub_presence import PresenceTicks, Room
from .state import signed_out

logger = logging.getLogger(__name__)

REACTION_FLUSH = 0.1  # reactions inside this window go out as one message
REFRESH = 60.0  # re-add every membership this often (the Redis layer's group_expiry is 300 s)
RETRY_FIRST, RETRY_MAX = 1.0, 5.0  # after a failed join: retry in 1 s, doubling up to 5 s
STOP_TIMEOUT = 3.0  # leaving groups and presence on stop may not take longer (Redis may be down)


class Hub(PresenceTicks):
    def __init__(self) -> None:
        self.id = f"{_socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.layer = get_channel_layer()
        self.rooms: dict[int, Room] = {}
        self.presence = presence.backend()
        self.channel = ""
        self.closed = False
        self.in_hubs_group = False
        self.trouble = False  # a channel-layer or presence call failed: the keeper joins everything again
        self._membership = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._started = asyncio.get_running_loop().create_task(self._start())

    # --- lifecycle -------------------------------------------------------------------------------

    async def _start(self) -> None:
        # The default prefix: channels-redis holds one receive lock per layer, and a channel with another
        # prefix would block it and starve every other process-local channel (consumers, media replies).
        self.channel = await self.layer.new_channel()  # no Redis call: a name made up locally
        try:
            await self.layer.group_add(HUBS_GROUP, self.channel)
            self.in_hubs_group = True
        except Exception:
            logger.warning("hub %s could not join the hubs group; retrying", self.id, exc_info=True)
            self._note_trouble()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._receive_loop()),
            loop.create_task(self._tick_loop()),
            loop.create_task(self._keep_memberships()),
        ]

    async def started(self) -> None:
        await asyncio.shield(self._started)

    async def stop(self) -> None:
        """Leave every group and withdraw presence (bounded in time), then stop reading."""
        if self.closed:
            return
        self.closed = True
        if _hubs.get(asyncio.get_running_loop()) is self:
            del _hubs[asyncio.get_running_loop()]
        await asyncio.gather(self._started, return_exceptions=True)
        # The tick first (it would report presence again), then groups and presence, then the channel's
        # receive queue (a message that came meanwhile is dropped with it).
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self._leave_everything(), STOP_TIMEOUT)
        except Exception:
            logger.warning("hub %s did not leave its groups cleanly (they expire)", self.id, exc_info=True)
        if self.channel:
            forget_channel(self.layer, self.channel)
        try:
            await self.presence.close()
        except Exception:
            logger.debug("presence client did not close", exc_info=True)
        self.rooms.clear()

    async def _leave_everything(self) -> None:
        for room in list(self.rooms.values()):
            if self.channel:
                await self.layer.group_discard(room_group(room.space_id), self.channel)
            await self.presence.forget(room.space_id, self.id)
        if self.channel:
            await self.layer.group_discard(HUBS_GROUP, self.channel)

    # --- sockets ---------------------------------------------------------------------------------

    async def subscribe(self, space_id: int, subscriber: Subscriber) -> bool:
        """Add a local socket to a room. The group is joined before this returns, or a retry is under
        way (the keeper resyncs the room's sockets once it is in). False: the hub closed."""
        if self.closed:
            return False
        room = self.rooms.get(space_id)
        if room is None:
            room = self.rooms[space_id] = Room(space_id)
            room.ready = asyncio.get_running_loop().create_task(self._join_group(room))
        assert room.ready is not None  # set when the room was made
        await asyncio.shield(room.ready)
        if self.closed or self.rooms.get(space_id) is not room:
            return False
        room.sockets.add(subscriber)
        room.empty_since = None
        room.audience_dirty = True
        if subscriber.handle:
            room.local_joined.append(subscriber.handle)
        return True

    def unsubscribe(self, space_id: int, subscriber: Subscriber) -> None:
        room = self.rooms.get(space_id)
        if room is None or subscriber not in room.sockets:
            return
        room.sockets.discard(subscriber)
        room.audience_dirty = True
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
                if self.rooms.get(room.space_id) is room:
                    await self.layer.group_add(room_group(room.space_id), self.channel)
                    room.joined = True
        except Exception:
            logger.warning("hub %s could not join space %s's group; retrying", self.id, room.space_id, exc_info=True)
            self._note_trouble()

    # --- memberships -----------------------------------------------------------------------------

    def _note_trouble(self) -> None:
        if not self.trouble:
            self.trouble = True
            self._wake.set()

    async def _keep_memberships(self) -> None:
        delay = RETRY_FIRST
        while True:
            healthy = not self.trouble and self.in_hubs_group and all(r.joined for r in self.rooms.values())
            try:
                await asyncio.wait_for(self._wake.wait(), REFRESH if healthy else delay)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                rejoined = await self._rejoin()
            except Exception:  # never the end of the keeper
                logger.exception("hub %s: rejoining failed", self.id)
                rejoined = False
            delay = RETRY_FIRST if rejoined else min(delay * 2, RETRY_MAX)

    async def _rejoin(self) -> bool:
        """Join every group this hub belongs in again (their expiry starts over). After a failure, send a
        fresh snapshot to the sockets of each room whose seq moved on while the hub may have been out."""
        had_trouble = self.trouble
        try:
            await self.layer.group_add(HUBS_GROUP, self.channel)
            self.in_hubs_group = True
            for room in list(self.rooms.values()):
                async with self._membership:
                    if self.rooms.get(room.space_id) is not room:
                        continue
                    await self.layer.group_add(room_group(room.space_id), self.channel)
                was_joined, room.joined = room.joined, True
                if had_trouble or not was_joined:
                    await self._resync_if_behind(room)
            if had_trouble:
                await self._close_signed_out()
        except Exception:
            if not had_trouble:
                logger.warning("hub %s could not rejoin its groups; retrying", self.id, exc_info=True)
            self.trouble = True
            return False
        if had_trouble:
            logger.warning("hub %s is in its channel-layer groups again", self.id)
        self.trouble = False
        return True

    async def _close_signed_out(self) -> None:
        """A log-out (or ban) broadcast while the hub was out of the hubs group never reached it: close the
        sockets whose session no longer logs anyone in, as the broadcast would have."""
        sockets = [s for room in self.rooms.values() for s in room.sockets if s.user_id and s.session_key]
        gone = await database_sync_to_async(signed_out)({s.session_key: s.user_id for s in sockets})
        for subscriber in sockets:
            if subscriber.session_key in gone:
                await subscriber.close_from_hub(protocol.CLOSE_LOGGED_OUT)

    async def _resync_if_behind(self, room: Room) -> None:
        seq = await database_sync_to_async(current_seq)(room.space_id)
        if seq > room.last_seq:
            logger.info("space %s moved on to seq %s while hub %s was out: resyncing", room.space_id, seq, self.id)
            for subscriber in tuple(room.sockets):
                subscriber.resync()

    # --- channel layer -----------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        async for message in receive_forever(self.layer, self.channel, f"hub {self.id}", self._note_trouble):
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
        counts = Counter(str(item["emoji"]) for item in batch)
        users: dict[str, list[str]] = {}
        for item in batch:
            names = users.setdefault(str(item["emoji"]), [])
            if len(names) < 5 and item["user"] not in names:
                names.append(str(item["user"]))
        reactions = [
            protocol.ReactionCount(emoji=emoji, count=count, users=users[emoji]) for emoji, count in counts.items()
        ]
        await self._deliver_all(room, protocol.encode(protocol.Reactions(seq=room.last_seq, reactions=reactions)))

    def _send_all(self, room: Room, text: str) -> None:
        asyncio.get_running_loop().create_task(self._deliver_all(room, text))

    async def _close_user(self, user_id: int, code: int) -> None:
        for room in list(self.rooms.values()):
            for subscriber in tuple(room.sockets):
                if subscriber.user_id == user_id:
                    await subscriber.close_from_hub(code)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
_stops_with_server: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
SHUTDOWN_TIMEOUT = 5.0


async def get_hub() -> Hub:
    """This event loop's hub, started on first use; it lives as long as the loop (the process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.closed:
        hub = _hubs[loop] = Hub()
        _stop_with_server(loop)
    await hub.started()
    return hub


def _stop_with_server(loop: asyncio.AbstractEventLoop) -> None:
    if loop in _stops_with_server:
        return
    _stops_with_server.add(loop)
    from . import daphne_compat  # Daphne specifics stay there

    daphne_compat.call_before_shutdown(leave_on_shutdown, SHUTDOWN_TIMEOUT)


async def leave_on_shutdown() -> None:
    """A server process stopping: its hub leaves its groups and presence, and every other membership this
    loop holds (the in-process media engine's) is dropped, so no group keeps a dead channel."""
    await shutdown()
    discard = getattr(get_channel_layer(), "discard_memberships", None)
    if discard is not None:
        await discard()
    logger.info("left the channel layer's groups for shutdown")


async def join(space_id: int, subscriber: Subscriber) -> Hub:
    """Subscribe a socket to its room through this process's hub."""
    while True:
        hub = await get_hub()
        if await hub.subscribe(space_id, subscriber):
            return hub


async def shutdown() -> None:
    """Stop this loop's hub (tests, and a server shutting down)."""
    hub = _hubs.get(asyncio.get_running_loop())
    if hub is not None:
        await hub.stop()
