"""Listener count and joins: aggregated, at most once a second, and a dead process stops counting."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from live import presence
from rooms.models import Space
from tests.live.roomkit import close_all, join, live_space, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]


@pytest.fixture
async def space(alice):
    space = await database_sync_to_async(live_space)(alice)
    # Ids restart with each test database; Redis may remember an earlier run's room of the same id.
    store = presence.backend()
    await store.clear(space.pk)
    await store.close()
    return space


async def collect(communicator, seconds: float) -> list[dict]:
    """Everything sent within `seconds` (receive_nothing never cancels the consumer; a timeout would)."""
    messages = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if not await communicator.receive_nothing(timeout=0.05):
            messages.append(await receive(communicator))
    return messages


async def test_joins_are_counted_and_sent_at_most_once_a_second(space, alice, bob, carol):
    host, _ = await join(space.pk, alice)
    others = [(await join(space.pk, user))[0] for user in (bob, carol)]
    anonymous = [(await join(space.pk))[0] for _ in range(5)]
    messages = [m for m in await collect(host, 2.6) if m["event"] == "presence"]
    assert 1 <= len(messages) <= 3  # eight joins, never eight messages
    assert messages[-1]["listener_count"] == 8
    joined = {name for message in messages for name in message["joined"]}
    assert joined == {"alice", "bob", "carol"}  # anonymous visitors are counted, not named
    assert await database_sync_to_async(lambda: Space.objects.get(pk=space.pk).listener_count)() == 8

    await close_all(*anonymous, others[0])
    messages = [m for m in await collect(host, 2.2) if m["event"] == "presence"]
    assert messages[-1]["listener_count"] == 2
    assert "bob" in {name for message in messages for name in message["left"]}
    await close_all(host, others[1])


async def test_a_process_that_stops_reporting_stops_counting(space, alice):
    host, _ = await join(space.pk, alice)
    # Another process that held 40 sockets, then died without a goodbye.
    store = presence.backend()
    await store.report(space.pk, "crashed-process", 40)
    await store.close()
    with override_settings(SPACES_PRESENCE_TTL=2):
        counts = [m["listener_count"] for m in await collect(host, 4.5) if m["event"] == "presence"]
    assert counts[0] == 41
    assert counts[-1] == 1
    await close_all(host)


async def test_stale_reports_are_ignored(space):
    store = presence.LocalPresence()
    await store.report(space.pk, "alive", 3)
    store._rooms[space.pk]["dead"] = f"7:{time.time() - 120}"
    assert await store.total(space.pk) == 3
    assert "dead" not in store._rooms[space.pk]
