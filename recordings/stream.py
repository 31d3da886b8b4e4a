"""`/spaces/<id>/listen.ogg`: the live mix as one endless Ogg Opus file over plain HTTP (Icecast-style), for
VLC, ffplay, an <audio> tag or a smart speaker. No WebRTC, no re-encode: the packets are the ones the media
engine sends its WebRTC listeners (recordings.livefeed brings them here).

Each web process keeps one RoomStream per room with HTTP listeners: it pages the packets (five pages a
second), numbers the pages afresh for each listener from where they joined, counts its listeners in the
room's presence (owner "http:<host>-<pid>", like a hub's), and checks the room's entry rules again every
few seconds, so a listener whose ticket is refunded or who is blocked is cut off as a socket would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import weakref
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from live import presence
from live.access import entry_refusal
from rooms.models import Space

from . import livefeed, ogg

logger = logging.getLogger(__name__)

OWNER = f"http:{socket.gethostname()}-{os.getpid()}"
PACKETS_PER_PAGE = 10  # 200 ms a page: what a listener hears lags the room by about that
MAX_BEHIND = 50  # pages (10 s) a slow client may fall behind before it is let go
CHECK_EVERY = 5.0  # seconds between entry-rule checks
SILENCE_AFTER = 1.0  # no packet for this long (no engine hosts the room yet): send silence, keep players alive


@dataclass(eq=False)
class Listener:
    user_id: int | None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    sequence: int = 2  # after the two header pages
    base: int | None = None  # the room's granule at the listener's first page


class RoomStream:
    def __init__(self, space_id: int, title: str, remote: bool) -> None:
        self.space_id = space_id
        self.writer = ogg.OggOpusWriter(title=title, packets_per_page=PACKETS_PER_PAGE)
        self.headers = self.writer.headers()
        self.listeners: set[Listener] = set()
        self.remote = remote
        self.last_packet = time.monotonic()
        self.presence = presence.backend()
        self.tasks: list[asyncio.Task] = [asyncio.ensure_future(self._keep())]
        if remote:
            self.tasks.append(asyncio.ensure_future(self._subscribe()))
        else:
            livefeed.LOCAL.subscribe(space_id, self.push)

    def push(self, packet: bytes) -> None:
        self.last_packet = time.monotonic()
        built = self.writer.add(packet)
        if not built:
            return
        for listener in tuple(self.listeners):
            if listener.base is None:
                listener.base = self.writer.granule - ogg.PACKET_SAMPLES * PACKETS_PER_PAGE
            if listener.queue.qsize() >= MAX_BEHIND:
                self._let_go(listener)  # a client that stopped reading
                continue
            page = ogg.restamp(built, sequence=listener.sequence, granule=self.writer.granule - listener.base)
            listener.sequence += 1
            listener.queue.put_nowait(page)

    def join(self, user_id: int | None) -> Listener:
        listener = Listener(user_id)
        self.listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def _let_go(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        listener.queue.put_nowait(None)

    async def _keep(self) -> None:
        """Once a second: silence when nothing comes, presence, the entry rules, Redis' want key."""
        reported_at = checked_at = wanted_at = 0.0
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if now - self.last_packet > SILENCE_AFTER:
                for _ in range(50):
                    self.push(ogg.SILENT_PACKET)
            try:
                if self.remote and now - wanted_at >= livefeed.WANT_TTL / 3:
                    wanted_at = now
                    await _want(self.space_id)
                if now - reported_at >= presence.heartbeat() / 2:
                    reported_at = now
                    await self._report()
                if now - checked_at >= CHECK_EVERY:
                    checked_at = now
                    await self._check_entry()
            except Exception:
                logger.warning("listen.ogg upkeep failed for space %s", self.space_id, exc_info=True)
            if not self.listeners:
                await self.stop()
                return

    async def _report(self) -> None:
        users = sorted({listener.user_id for listener in self.listeners if listener.user_id is not None})
        anonymous = sum(1 for listener in self.listeners if listener.user_id is None)
        await self.presence.report(self.space_id, OWNER, len(self.listeners))
        await self.presence.report_audience(self.space_id, OWNER, users, anonymous)

    async def _check_entry(self) -> None:
        refused = await _refused_users(self.space_id, {listener.user_id for listener in self.listeners})
        for listener in tuple(self.listeners):
            if listener.user_id in refused:
                self._let_go(listener)

    async def _subscribe(self) -> None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
        await _want(self.space_id)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(livefeed.CHANNEL.format(space_id=self.space_id))
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        for packet in livefeed.unpack(message["data"]):
                            self.push(packet)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        _streams().pop(self.space_id, None)
        livefeed.LOCAL.unsubscribe(self.space_id, self.push)
        for listener in tuple(self.listeners):
            self._let_go(listener)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            await self.presence.forget(self.space_id, OWNER)
        with contextlib.suppress(Exception):
            await self.presence.close()


async def _want(space_id: int) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.set(livefeed.WANT_KEY.format(space_id=space_id), OWNER, ex=livefeed.WANT_TTL)
    finally:
        await client.aclose()


@database_sync_to_async
def _refused_users(space_id: int, user_ids: set[int | None]) -> set[int | None]:
    """Which of these listeners (None: the anonymous ones) may no longer be in the room."""
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        return set(user_ids)
    users = User.objects.in_bulk([user_id for user_id in user_ids if user_id is not None])
    refused = set()
    for user_id in user_ids:
        user = AnonymousUser() if user_id is None else users.get(user_id)
        if user is None or entry_refusal(space, user):
            refused.add(user_id)
    return refused


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, RoomStream]] = weakref.WeakKeyDictionary()


def _streams() -> dict[int, RoomStream]:
    return _loops.setdefault(asyncio.get_running_loop(), {})


def stream_for(space: Space) -> RoomStream:
    """This process's stream of the room, started on first use."""
    streams = _streams()
    stream = streams.get(space.pk)
    if stream is None:
        remote = not settings.SPACES_MEDIA_IN_PROCESS
        stream = streams[space.pk] = RoomStream(space.pk, space.title, remote)
    return stream


async def shutdown() -> None:
    """Stop this loop's streams (tests)."""
    for stream in list(_streams().values()):
        await stream.stop()
