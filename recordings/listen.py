"""GET /spaces/<id>/listen.ogg as a bare ASGI application, routed ahead of Django (spaces_site/asgi.py).

A Django streaming response would hold a thread (and its memory arena) per open response for as long as
it streams; a listener here is a coroutine and a queue. Channels' AuthMiddlewareStack gives it the user
from the session cookie, as for the room's websocket; the room's entry rules decide (live.access).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser

from live.access import entry_refusal
from rooms.access import can_view
from rooms.models import Space

from . import stream

Scope = dict[str, Any]
HEADERS = [
    (b"content-type", b"audio/ogg"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each page on at once
    (b"x-content-type-options", b"nosniff"),
]


@database_sync_to_async
def _entry(space_id: int, user) -> tuple[Space | None, str | None]:  # noqa: ANN001
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None or not can_view(space, user):
        return None, "This Space doesn't exist."
    return space, entry_refusal(space, user)


async def _refuse(send, status: int, reason: str) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})  # fmt: skip
    await send({"type": "http.response.body", "body": reason.encode()})


async def listen_ogg(scope: Scope, receive, send) -> None:  # noqa: ANN001
    """The live room as one endless Ogg Opus file (recordings.stream pages it)."""
    if scope.get("method") not in ("GET", "HEAD"):
        await _refuse(send, 405, "Use GET.")
        return
    user = scope.get("user") or AnonymousUser()
    space, refusal = await _entry(int(scope["url_route"]["kwargs"]["space_id"]), user)
    if space is None:
        await _refuse(send, 404, refusal or "Not found.")
        return
    if refusal:
        await _refuse(send, 403, refusal)
        return
    room = stream.stream_for(space)
    listener = room.join(user.pk if user.is_authenticated else None)

    async def watch_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        listener.queue.put_nowait(None)

    watcher = asyncio.ensure_future(watch_disconnect())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": room.headers, "more_body": True})
        while (page := await listener.queue.get()) is not None:
            await send({"type": "http.response.body", "body": page, "more_body": True})
        if not watcher.done():  # the stream ended (the Space ended, entry refused): end the response
            await send({"type": "http.response.body", "body": b""})
    finally:
        room.leave(listener)
        watcher.cancel()
