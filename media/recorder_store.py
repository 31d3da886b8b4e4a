"""The site's side of media.recorder: recording plans and chunks through the recordings app, and the live
HTTP listeners' packets handed over in this process (embedded default) or over Redis (runmedia workers)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from recordings import livefeed
from recordings.handoff import ChunkData, Plan

from .recorder import LiveFeed, Recorders

logger = logging.getLogger(__name__)


class LocalLiveFeed:
    """The web views are in this process (embedded default): hand packets over directly."""

    async def refresh(self, space_ids: list[int]) -> None:
        return None

    def wanted(self, space_id: int) -> bool:
        return livefeed.LOCAL.wanted(space_id)

    def sink(self, space_id: int) -> livefeed.Sink:
        return lambda packet: livefeed.LOCAL.push(space_id, packet)

    async def close(self) -> None:
        return None


class RedisLiveFeed:
    """A runmedia worker: publish a room's packets on Redis while some web process wants them."""

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        self._wanted: set[int] = set()
        self._sends: set[asyncio.Task] = set()

    async def refresh(self, space_ids: list[int]) -> None:
        if not space_ids:
            self._wanted = set()
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for space_id in space_ids:
                pipe.exists(livefeed.WANT_KEY.format(space_id=space_id))
            found = await pipe.execute()
        self._wanted = {space_id for space_id, exists in zip(space_ids, found, strict=True) if exists}

    def wanted(self, space_id: int) -> bool:
        return space_id in self._wanted

    def sink(self, space_id: int) -> livefeed.Sink:
        batch: list[bytes] = []
        channel = livefeed.CHANNEL.format(space_id=space_id)

        def push(packet: bytes) -> None:
            batch.append(packet)
            if len(batch) >= livefeed.BATCH:
                task = asyncio.ensure_future(self.redis.publish(channel, livefeed.pack(batch)))
                self._sends.add(task)
                task.add_done_callback(self._sent)
                batch.clear()

        return push

    def _sent(self, task: asyncio.Task) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("could not publish live packets", exc_info=task.exception())

    async def close(self) -> None:
        await self.redis.aclose()


class DjangoStore:
    """Plans and chunks through the recordings app, in a thread of its own (storage uploads may be slow;
    the audio clock never waits on them)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recordings")
        self.worker = f"{socket.gethostname()}-{os.getpid()}"

    async def _run(self, function: Callable[..., object], *args: object) -> object:
        def call() -> object:
            from django.db import close_old_connections

            close_old_connections()
            try:
                return function(*args)
            finally:
                close_old_connections()

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def plan(self, space_id: int) -> Plan | None:
        from recordings import services

        return await self._run(services.plan, space_id)  # type: ignore[return-value]

    async def open_segment(self, space_id: int, key: str, started_at: float) -> bool:
        from datetime import UTC, datetime

        from recordings import segments

        when = datetime.fromtimestamp(started_at, tz=UTC)
        return bool(await self._run(segments.open_segment, space_id, key, self.worker, when))

    async def ship(self, key: str, chunk: ChunkData) -> bool:
        from recordings import segments

        return bool(await self._run(segments.store_chunk, key, chunk))

    async def ship_orphan(self, key: str, index: int, data: bytes) -> bool:
        from recordings import segments

        return bool(await self._run(segments.store_orphan, key, index, data))

    async def close_segment(self, key: str) -> None:
        from recordings import segments

        await self._run(segments.close_segment, key)


def django_recorders(*, remote_feed: bool) -> Recorders:
    """An engine's Recorders for the site: the recordings app's store, and live HTTP listeners fed in this
    process (embedded default) or over Redis (runmedia workers)."""
    from django.conf import settings

    feed: LiveFeed = RedisLiveFeed(settings.REDIS_URL) if remote_feed else LocalLiveFeed()
    return Recorders(DjangoStore(), spool_dir=settings.SPACES_RECORDING_SPOOL_DIR,
                     chunk_seconds=settings.SPACES_RECORDING_CHUNK_SECONDS, feed=feed)  # fmt: skip
