"""Who is in a room, counted per process and summed, surviving the crash of any process.

Each hub (one per Daphne process) reports how many sockets it holds for a room, with a timestamp,
and refreshes that report every HEARTBEAT seconds. The total is the sum of the reports younger than
SPACES_PRESENCE_TTL seconds (30 by default), so when a process dies without saying goodbye its sockets
stop counting within that time. A socket whose client vanished without closing is dropped by Daphne's
own ping/pong (20 s interval, 30 s timeout) and counts no more at the next tick.

With REDIS_URL set, reports live in one Redis hash per room (`spaces:presence:<id>`, a field per
process); on the embedded default they live in this process's memory.

The audience registry works the same way: each hub also reports which logged-in users it holds sockets
for and how many anonymous ones (`spaces:audience:<id>`, a field per process, `<time>|<anonymous>|<ids>`),
so any process can list who is in a room (live.audience) and a crashed process drops out within the TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

KEY = "spaces:presence:{space_id}"
AUDIENCE_KEY = "spaces:audience:{space_id}"


@dataclass
class Audience:
    """Who is connected to a room, over every process: logged-in user ids, and anonymous sockets."""

    user_ids: set[int] = field(default_factory=set)
    anonymous: int = 0


def _audience_entry(user_ids: list[int], anonymous: int, now: float) -> str:
    return f"{now}|{anonymous}|{','.join(map(str, user_ids))}"


def _fresh_audience(entries: dict[str, str], now: float) -> tuple[Audience, list[str]]:
    audience, stale = Audience(), []
    for owner, value in entries.items():
        try:
            stamp, anonymous, ids = value.split("|", 2)
            if now - float(stamp) > ttl():
                stale.append(owner)
                continue
            audience.anonymous += int(anonymous)
            audience.user_ids.update(int(i) for i in ids.split(",") if i)
        except ValueError:
            stale.append(owner)
    return audience, stale


def ttl() -> float:
    return float(settings.SPACES_PRESENCE_TTL)


def heartbeat() -> float:
    return max(ttl() / 3, 0.5)


def _fresh_total(entries: Mapping[Any, Any], now: float) -> tuple[int, list[str]]:
    total, stale = 0, []
    for owner, value in entries.items():
        count, _, stamp = value.partition(":")
        try:
            if now - float(stamp) > ttl():
                stale.append(owner)
                continue
            total += int(count)
        except ValueError:
            stale.append(owner)
    return total, stale


class LocalPresence:
    """Reports in this process's memory (embedded default: one process)."""

    _rooms: dict[int, dict[str, str]] = {}
    _audiences: dict[int, dict[str, str]] = {}

    async def report(self, space_id: int, owner: str, count: int) -> None:
        self._rooms.setdefault(space_id, {})[owner] = f"{count}:{time.time()}"

    async def total(self, space_id: int) -> int:
        entries = self._rooms.get(space_id, {})
        total, stale = _fresh_total(entries, time.time())
        for owner in stale:
            entries.pop(owner, None)
            self._audiences.get(space_id, {}).pop(owner, None)
        return total

    async def report_audience(self, space_id: int, owner: str, user_ids: list[int], anonymous: int) -> None:
        self._audiences.setdefault(space_id, {})[owner] = _audience_entry(user_ids, anonymous, time.time())

    async def forget(self, space_id: int, owner: str) -> None:
        self._rooms.get(space_id, {}).pop(owner, None)
        self._audiences.get(space_id, {}).pop(owner, None)

    async def clear(self, space_id: int) -> None:
        self._rooms.pop(space_id, None)
        self._audiences.pop(space_id, None)

    async def close(self) -> None:
        pass


class RedisPresence:
    """Reports in a Redis hash per room, shared by every process."""

    def __init__(self, url: str) -> None:
        import redis.asyncio

        # One client per hub, hence per event loop (redis.asyncio connections belong to a loop).
        self._client = redis.asyncio.Redis.from_url(url, decode_responses=True)

    async def report(self, space_id: int, owner: str, count: int) -> None:
        key = KEY.format(space_id=space_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hset(key, owner, f"{count}:{time.time()}")
            pipe.expire(key, int(ttl() * 4) + 60)
            await pipe.execute()

    async def total(self, space_id: int) -> int:
        key = KEY.format(space_id=space_id)
        entries = await self._client.hgetall(key)
        total, stale = _fresh_total(entries, time.time())
        if stale:  # a process that stopped reporting: its audience entry goes too
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hdel(key, *stale)
                pipe.hdel(AUDIENCE_KEY.format(space_id=space_id), *stale)
                await pipe.execute()
        return total

    async def report_audience(self, space_id: int, owner: str, user_ids: list[int], anonymous: int) -> None:
        key = AUDIENCE_KEY.format(space_id=space_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hset(key, owner, _audience_entry(user_ids, anonymous, time.time()))
            pipe.expire(key, int(ttl() * 4) + 60)
            await pipe.execute()

    async def forget(self, space_id: int, owner: str) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hdel(KEY.format(space_id=space_id), owner)
            pipe.hdel(AUDIENCE_KEY.format(space_id=space_id), owner)
            await pipe.execute()

    async def clear(self, space_id: int) -> None:
        await self._client.delete(KEY.format(space_id=space_id), AUDIENCE_KEY.format(space_id=space_id))

    async def close(self) -> None:
        await self._client.aclose()


def backend() -> LocalPresence | RedisPresence:
    return RedisPresence(settings.REDIS_URL) if settings.REDIS_URL else LocalPresence()


_sync_clients: dict[str, object] = {}
_sync_lock = threading.Lock()


def read_audience(space_id: int) -> Audience:
    """The room's audience now, from sync code (a view): every process's fresh report, merged.
    Raises redis.RedisError when Redis does not answer."""
    now = time.time()
    if not settings.REDIS_URL:
        # The hub writes these from the event loop's thread: copy before reading.
        return _fresh_audience(dict(LocalPresence._audiences.get(space_id, {})), now)[0]
    import redis

    with _sync_lock:
        client = _sync_clients.get(settings.REDIS_URL)
        if client is None:
            client = _sync_clients[settings.REDIS_URL] = redis.Redis.from_url(
                settings.REDIS_URL, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
            )
    entries = client.hgetall(AUDIENCE_KEY.format(space_id=space_id))  # type: ignore[attr-defined]
    return _fresh_audience(entries, now)[0]
