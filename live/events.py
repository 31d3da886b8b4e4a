"""Room events to live clients: numbered, serialised once, sent after commit.

A delta is `{"event": name, "seq": n, ...}` where `n` counts per Space (Redis INCR when REDIS_URL is set,
so every Daphne process agrees; a process-local counter on the embedded default). It travels on the
channel-layer group `room_group(space_id)` as

    {"type": "room.event", "space_id": id, "event": {...}, "text": "<the JSON, serialised once>",
     "audience": {"moderators": bool, "user_ids": [...]}  # only for events some people may not see
    }

Each Daphne process has one hub in that group (live.hub), which writes `text` to its local sockets; the
media engine, also in the group, reads `event`. Volatile events (speaking levels, reactions) go as
`{"type": "room.volatile", ...}` and take no seq: they may be dropped or coalesced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# Every hub joins this group once, for messages addressed to a process rather than a room (logout).
HUBS_GROUP = "room-hubs"
SEQ_KEY = "spaces:seq:{space_id}"
SEQ_TTL = 7 * 24 * 3600


def room_group(space_id: int) -> str:
    return f"space-{space_id}"


async def receive_forever(layer, channel: str, reader: str) -> AsyncIterator[dict]:
    """Every message sent to `channel`, for as long as the caller iterates. A failed read (Redis
    restarting, say) is logged and retried shortly: it must not end the hub's or a media worker's loop."""
    while True:
        try:
            message = await layer.receive(channel)
        except Exception:
            logger.exception("%s could not read the channel layer", reader)
            await asyncio.sleep(0.5)
            continue
        yield message


def dumps(message: dict) -> str:
    # Compact and with real characters (emoji), the same bytes for every socket.
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


# --- Sequence numbers ------------------------------------------------------------------------------


class _LocalSeq:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[int, int] = {}

    def next(self, space_id: int) -> int:
        with self._lock:
            value = self._values.get(space_id, 0) + 1
            self._values[space_id] = value
            return value

    def current(self, space_id: int) -> int:
        return self._values.get(space_id, 0)


class _RedisSeq:
    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)

    def next(self, space_id: int) -> int:
        key = SEQ_KEY.format(space_id=space_id)
        with self._client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, SEQ_TTL)
            value, _ = pipe.execute()
        return int(value)

    def current(self, space_id: int) -> int:
        return int(self._client.get(SEQ_KEY.format(space_id=space_id)) or 0)


_seq: _LocalSeq | _RedisSeq | None = None
_seq_lock = threading.Lock()


def _sequence() -> _LocalSeq | _RedisSeq:
    global _seq
    if _seq is None:
        with _seq_lock:
            if _seq is None:
                _seq = _RedisSeq(settings.REDIS_URL) if settings.REDIS_URL else _LocalSeq()
    return _seq


def next_seq(space_id: int) -> int:
    return _sequence().next(space_id)


def current_seq(space_id: int) -> int:
    """The seq of the last delta sent for this Space (a snapshot reads it *before* the database)."""
    return _sequence().current(space_id)


# --- Sending ---------------------------------------------------------------------------------------


def build_event(space_id: int, event: str, data: dict | None = None, *, audience: dict | None = None) -> dict:
    """Number and serialise one delta; the channel-layer message that carries it."""
    body: dict[str, Any] = {"event": event, "seq": next_seq(space_id), **(data or {})}
    message: dict[str, Any] = {"type": "room.event", "space_id": space_id, "event": body, "text": dumps(body)}
    if audience is not None:
        message["audience"] = audience
        # Everyone else still learns that the seq moved on, so nobody mistakes it for a lost message.
        message["stub"] = dumps({"event": "noop", "seq": body["seq"]})
    return message


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(group, message)
    else:
        # Called from the event loop itself (the media engine): never block it.
        loop.create_task(layer.group_send(group, message))


def send_now(space_id: int, event: str, data: dict | None = None, *, audience: dict | None = None) -> None:
    try:
        _group_send(room_group(space_id), build_event(space_id, event, data, audience=audience))
    except Exception:  # a lost event costs clients a resync, never the action that caused it
        logger.exception("could not broadcast %s to space %s", event, space_id)


def broadcast_on_commit(space_id: int, event: str, data: dict | None = None, *, audience: dict | None = None) -> None:
    """Send `event` to everyone in the room once the current transaction commits.

    `audience` ({"moderators": True, "user_ids": [..]}) limits who sees the body; the others get a
    `noop` with the same seq.
    """
    transaction.on_commit(lambda: send_now(space_id, event, data, audience=audience))


def broadcast_volatile(space_id: int, event: str, data: dict | None = None) -> None:
    """Send a droppable event (speaking levels, reactions) that does not advance the room's seq.

    Callable from sync code (a thread) or from the event loop (it schedules the send and returns).
    """
    message = {"type": "room.volatile", "space_id": space_id, "name": event, "data": data or {}}
    try:
        _group_send(room_group(space_id), message)
    except Exception:
        logger.exception("could not send volatile %s to space %s", event, space_id)


def send_to_hubs(message: dict) -> None:
    """A message for every hub (every Daphne process), e.g. close a user's sockets on logout."""
    _group_send(HUBS_GROUP, message)
