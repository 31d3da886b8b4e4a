"""Which media worker hosts which room, through Redis.

Each worker writes a heartbeat key (its channel-layer inbox and its load) every second with a short
TTL. A room is placed on the least-loaded live worker with SET NX, so two Daphne processes placing
the same room at once agree. A room whose worker stopped heartbeating is placed again.
"""

from __future__ import annotations

import json
import time

import redis.asyncio as redis

DEFAULT_PREFIX = "spaces:media"
HEARTBEAT_TTL = 3  # seconds: a worker missing three heartbeats is dead
# One live room weighs like this many peers (its mixer, decoders and encoders).
ROOM_WEIGHT = 50

# Delete the room's key only if it still names the dead worker (no one re-placed it meanwhile).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Placement:
    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self.workers_key = f"{prefix}:workers"

    def _worker_key(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    def _room_key(self, space_id: int) -> str:
        return f"{self.prefix}:room:{space_id}"

    async def close(self) -> None:
        await self.redis.aclose()

    # -- worker side -------------------------------------------------------------------------------

    async def heartbeat(self, worker_id: str, channel: str, load: dict) -> None:
        record = {"id": worker_id, "channel": channel, "load": load, "at": time.time()}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self._worker_key(worker_id), json.dumps(record), ex=HEARTBEAT_TTL)
            pipe.sadd(self.workers_key, worker_id)
            await pipe.execute()

    async def rooms_moved_away(self, worker_id: str, space_ids: list[int]) -> list[int]:
        """Rooms this worker hosts that Redis now places elsewhere (it was taken for dead)."""
        if not space_ids:
            return []
        owners = await self.redis.mget([self._room_key(i) for i in space_ids])
        return [i for i, owner in zip(space_ids, owners, strict=True) if owner != worker_id]

    async def is_alive(self, worker_id: str) -> bool:
        return bool(await self.redis.exists(self._worker_key(worker_id)))

    async def release_room(self, space_id: int, worker_id: str) -> None:
        """Unplace the room if `worker_id` still holds it, so that the next negotiation places it again."""
        await self.redis.eval(_RELEASE, 1, self._room_key(space_id), worker_id)

    async def retire(self, worker_id: str, space_ids: list[int]) -> None:
        for space_id in space_ids:
            await self.release_room(space_id, worker_id)
        await self.redis.delete(self._worker_key(worker_id))
        await self.redis.srem(self.workers_key, worker_id)

    # -- Daphne side -------------------------------------------------------------------------------

    async def live_workers(self) -> list[dict]:
        ids = sorted(str(i) for i in await self.redis.smembers(self.workers_key))
        if not ids:
            return []
        records = await self.redis.mget([self._worker_key(i) for i in ids])
        alive = []
        for worker_id, record in zip(ids, records, strict=True):
            if record is None:
                await self.redis.srem(self.workers_key, worker_id)  # its heartbeat expired
            else:
                alive.append(json.loads(record))
        return alive

    @staticmethod
    def _score(worker: dict) -> float:
        load = worker.get("load") or {}
        return load.get("peers", 0) + ROOM_WEIGHT * load.get("rooms", 0) + 1000 * load.get("cpu", 0.0)

    async def worker_for(self, space_id: int) -> dict | None:
        """The live worker hosting this room, placing it (least loaded first) if needed."""
        for _ in range(3):
            placed = await self.redis.get(self._room_key(space_id))
            if placed is not None:
                placed = str(placed)
                record = await self.redis.get(self._worker_key(placed))
                if record is not None:
                    return json.loads(record)
                await self.release_room(space_id, placed)
            workers = await self.live_workers()
            if not workers:
                return None
            # A worker near its CPU budget takes no new room while another can (media.limits.PeerLimits.busy).
            best = min([w for w in workers if not (w.get("load") or {}).get("busy")] or workers, key=self._score)
            await self.redis.set(self._room_key(space_id), best["id"], nx=True)
        return None
