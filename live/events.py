"""Room events to live clients: numbered in the transaction, serialised once, sent after commit.

A delta (live.protocol.Delta) takes its seq from `RoomSequence` inside the transaction that changes the
room, so the numbers follow commit order across every process, and goes out once that transaction
commits. It travels on the channel-layer group `room_group(space_id)` as

    {"type": "room.event", "space_id": id, "seq": n, "text": "<the JSON, serialised once>",
     "audience": null | {"moderators": bool, "user_ids": [...]}, "stub": "<noop JSON>" | null,
     "sockets": [<socket effects>], "media": null | "refresh" | "remove_user" | "end_room",
     "user_id": <whom a remove_user is about> | null}

Each Daphne process has one hub in that group (live.hub): it writes `text` to its local sockets (`stub`
to those outside the audience) and carries out `sockets`; the media engine, also in the group, carries
out `media`. Volatile events (speaking levels, reactions) take no seq and may be dropped or coalesced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from . import protocol
from .models import RoomSequence

logger = logging.getLogger(__name__)

# Every hub joins this group once, for messages addressed to a process rather than a room (logout).
HUBS_GROUP = "room-hubs"
RECEIVE_LOG_EVERY = 30.0  # seconds between log lines while the channel layer keeps failing


def room_group(space_id: int) -> str:
    return f"space-{space_id}"


async def receive_forever(
    layer: Any, channel: str, reader: str, on_error: Callable[[], None] | None = None
) -> AsyncIterator[dict]:
    """Every message sent to `channel`, for as long as the caller iterates. A failed read (Redis
    restarting, say) is retried shortly and `on_error` is called: it must not end the hub's or a media
    worker's loop. The first failure is logged with its traceback, then one line per RECEIVE_LOG_EVERY."""
    failing_since: float | None = None
    logged_at = 0.0
    while True:
        try:
            message = await layer.receive(channel)
        except Exception:
            now = time.monotonic()
            if failing_since is None:
                failing_since = logged_at = now
                logger.exception("%s could not read the channel layer; retrying", reader)
            elif now - logged_at >= RECEIVE_LOG_EVERY:
                logged_at = now
                logger.warning("%s still cannot read the channel layer (%.0f s)", reader, now - failing_since)
            if on_error is not None:
                on_error()
            await asyncio.sleep(0.5)
            continue
        if failing_since is not None:
            logger.warning("%s reads the channel layer again after %.1f s", reader, time.monotonic() - failing_since)
            failing_since = None
        yield message


# --- Sequence numbers ------------------------------------------------------------------------------

# One statement, on PostgreSQL and SQLite alike; the table name is our own model's, never input.
_TABLE = RoomSequence._meta.db_table
_NEXT_SEQ_SQL = (
    f"INSERT INTO {_TABLE} (space_id, last_seq) VALUES (%s, 1) "  # noqa: S608
    f"ON CONFLICT (space_id) DO UPDATE SET last_seq = {_TABLE}.last_seq + 1 RETURNING last_seq"
)


def next_seq(space_id: int) -> int:
    """Take the room's next seq. The row stays locked until the caller's transaction ends, so a second
    writer waits here and gets the number after ours: seq order is commit order."""
    if not connection.in_atomic_block:
        raise RuntimeError("a delta's seq is taken inside the transaction that changes the room")
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQ_SQL, [space_id])
        return int(cursor.fetchone()[0])


def current_seq(space_id: int) -> int:
    """The seq of the last committed delta (a snapshot reads it *before* the room's state)."""
    return RoomSequence.objects.filter(space_id=space_id).values_list("last_seq", flat=True).first() or 0


# --- Sending -----------------------------------------------------------------------------------------


def build_message(space_id: int, delta: protocol.Delta) -> dict[str, Any]:
    """The channel-layer message that carries one numbered delta and its instructions."""
    audience = delta.audience()
    user_id = getattr(delta, "user_id", None)
    return {
        "type": "room.event",
        "space_id": space_id,
        "seq": delta.seq,
        "text": protocol.encode(delta),
        "audience": None if audience is None else msgspec.to_builtins(audience),
        # Everyone else still learns that the seq moved on, so nobody mistakes it for a lost message.
        "stub": None if audience is None else protocol.encode(protocol.Noop(seq=delta.seq)),
        "sockets": msgspec.to_builtins(delta.socket_effects()),
        "media": delta.media_effect(),
        "user_id": user_id,
    }


def emit(space_id: int, delta: protocol.Delta) -> None:
    """Number `delta` now, in the caller's transaction (which holds the Space row), and send it to the
    room once that transaction commits. Nothing is sent if it rolls back."""
    numbered = msgspec.structs.replace(delta, seq=next_seq(space_id))
    message = build_message(space_id, numbered)
    transaction.on_commit(lambda: send_now(space_id, message))


def send_now(space_id: int, message: dict[str, Any]) -> None:
    try:
        _group_send(room_group(space_id), message)
    except Exception:  # a lost event costs clients a resync, never the action that caused it
        logger.exception("could not send seq %s to space %s", message.get("seq"), space_id)


def _group_send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        async_to_sync(layer.group_send)(group, message)
    else:
        # Called from the event loop itself (the media engine): never block it.
        loop.create_task(layer.group_send(group, message))


def send_volatile(space_id: int, event: protocol.Event) -> None:
    """Send a droppable event (speaking levels) to the room now; it repeats the room's last seq.

    Callable from sync code (a thread) or from the event loop (it schedules the send and returns).
    """
    message = {"type": "room.volatile", "space_id": space_id, "event": msgspec.to_builtins(event)}
    try:
        _group_send(room_group(space_id), message)
    except Exception:
        logger.exception("could not send a volatile event to space %s", space_id)


def send_reaction(space_id: int, handle: str, user_id: int, emoji: str) -> None:
    """One reaction; each hub coalesces what arrives within a short window into one `reactions` event."""
    message = {"type": "room.reaction", "space_id": space_id, "user": handle, "user_id": user_id, "emoji": emoji}
    try:
        _group_send(room_group(space_id), message)
    except Exception:
        logger.exception("could not send a reaction to space %s", space_id)


def send_to_hubs(message: dict[str, Any]) -> None:
    """A message for every hub (every Daphne process), e.g. close a user's sockets on logout."""
    _group_send(HUBS_GROUP, message)
