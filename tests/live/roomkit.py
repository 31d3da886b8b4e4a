"""Helpers for the live-room tests: live Spaces, logged-in websockets, reading events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from rooms import services
from rooms.models import Participant, Space
from spaces_site.asgi import application

ORIGIN = (b"origin", b"http://testserver")
# Presence and snapshots are not deltas: tests that look for a delta skip them.
NOT_DELTAS = {"presence", "reactions", "speaking", "snapshot", "error", "webrtc_answer"}


def make_space(
    host,
    state: str = "scheduled",
    *,
    title: str = "Talk",
    starts_in: timedelta = timedelta(hours=2),
    listeners: int = 0,
    topics=(),
) -> Space:
    """Arrange a Space in any state directly, as the services would leave it (a live one seats its host),
    for tests whose subject is something other than the transition itself."""
    space = Space.objects.create(
        host=host, title=title, scheduled_for=timezone.now() + starts_in, listener_count=listeners
    )
    space.topics.set(topics)
    if state in ("live", "ended"):
        space.start()
        Participant.objects.create(space=space, user=host, role=Participant.Role.HOST)
    if state == "ended":
        space.end()
    if state == "cancelled":
        space.cancel()
    space.save()
    return space


def live_space(host, **extra) -> Space:
    return services.create_space(host, title=extra.pop("title", "Morning Space"), start_now=True, **extra)


def put_on_stage(space: Space, user, role: str = Participant.Role.SPEAKER, muted: bool = True) -> Participant:
    participant, _ = Participant.objects.update_or_create(
        space=space, user=user, defaults={"role": role, "is_muted": muted}
    )
    return participant


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def open_socket(space_id: int, user=None, *, path: str | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path or f"/ws/spaces/{space_id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def join(space_id: int, user=None) -> tuple[WebsocketCommunicator, dict]:
    """A connected socket and the snapshot it was sent first."""
    communicator = await open_socket(space_id, user)
    snapshot = await receive(communicator)
    assert snapshot["event"] == "snapshot", snapshot
    return communicator, snapshot


async def receive(communicator: WebsocketCommunicator, timeout: float = 3) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def receive_event(communicator: WebsocketCommunicator, name: str, timeout: float = 3) -> dict:
    """The next message called `name`, skipping anything else."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await receive(communicator, max(deadline - loop.time(), 0.01))
        if message["event"] == name:
            return message


async def receive_delta(communicator: WebsocketCommunicator, timeout: float = 3) -> dict:
    """The next message that advances the seq (skips presence and reactions)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await receive(communicator, max(deadline - loop.time(), 0.01))
        if message["event"] not in NOT_DELTAS:
            return message


async def act(communicator: WebsocketCommunicator, action: str, **arguments) -> None:
    await communicator.send_json_to({"action": action, **arguments})


async def close_all(*communicators: WebsocketCommunicator) -> None:
    for communicator in communicators:
        with contextlib.suppress(Exception):  # already closed by the server
            await communicator.disconnect()


async def teardown() -> None:
    """Stop this loop's hub, and let go of the database connection database_sync_to_async's thread keeps
    (CONN_MAX_AGE), so that pytest-django can drop a PostgreSQL test database."""
    from django.db import connections

    from live import hub

    await hub.shutdown()
    await database_sync_to_async(connections.close_all)()
