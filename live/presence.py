"""Who is in a room, counted per process and summed, surviving the crash of any process.

Each hub (one per Daphne process) reports how many sockets it holds for a room, with a timestamp,
and refreshes that report every HEARTBEAT seconds. The total is the sum of the reports younger than
SPACES_PRESENCE_TTL seconds (30 by default), so when a process dies without saying goodbye its sockets
stop counting within that time. A socket whose client vanished without closing is dropped by Daphne's
own ping/pong (20 s interval, 30 s timeout) and counts no more at the next tick.

With REDIS_URL set, reports live in one Redis hash per room (`spaces:presence:<id>`, a field per
process); on the embedded default they live in this process's memory.
"""

from __future__ import annotations

import time

from django.conf import settings

KEY = "spaces:presence:{space_id}"


def ttl() -> float:
    return float(settings.SPACES_PRESENCE_TTL)


def heartbeat() -> float:
    return max(ttl() / 3, 0.5)


def _fresh_total(entries: dict[str, str], now: float) -> tuple[int, list[str]]:
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

    async def report(self, space_id: int, owner: str, count: int) -> None:
        self._rooms.setdefault(space_id, {})[owner] = f"{count}:{time.time()}"

    async def total(self, space_id: int) -> int:
        entries = self._rooms.get(space_id, {})
        total, stale = _fresh_total(entries, time.time())
        for owner in stale:
            entries.pop(owner, None)
        return total

    async def forget(self, space_id: int, owner: str) -> None:
        self._rooms.get(space_id, {}).pop(owner, None)

    async def clear(self, space_id: int) -> None:
        self._rooms.pop(space_id, None)

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
        if stale:
            await self._client.hdel(key, *stale)
        return total

    async def forget(self, space_id: int, owner: str) -> None:
        await self._client.hdel(KEY.format(space_id=space_id), owner)

    async def clear(self, space_id: int) -> None:
        await self._client.delete(KEY.format(space_id=space_id))

    async def close(self) -> None:
        await self._client.aclose()


def backend() -> LocalPresence | RedisPresence:
    return RedisPresence(settings.REDIS_URL) if settings.REDIS_URL else LocalPresence()
