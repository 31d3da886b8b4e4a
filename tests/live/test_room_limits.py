"""Limits on the room's sockets, in process (both shapes): sockets per account, a message budget shared by
an account's sockets and by the HTTP fallback, and a consumer that is cancelled leaves no ghost."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from live import hub as hubs
from tests.live.roomkit import act, close_all, join, live_space, open_socket, put_on_stage, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]


@pytest.fixture
async def space(alice):
    return await database_sync_to_async(live_space)(alice)


async def refused(space_id: int, user) -> tuple[str, int]:
    communicator = await open_socket(space_id, user)
    error = await receive(communicator)
    closed = await communicator.receive_output(timeout=3)
    return error["reason"], closed["code"]


async def test_an_account_gets_a_few_sockets_and_a_clear_refusal_after(space, bob, settings):
    settings.SPACES_MAX_SOCKETS_PER_USER = 3
    sockets = [(await join(space.pk, bob))[0] for _ in range(3)]
    reason, code = await refused(space.pk, bob)
    assert reason == "Too many connections from your account: close another tab or window first."
    assert code == 4029
    await close_all(sockets[0])
    another, snapshot = await join(space.pk, bob)  # one left, so one more may come in
    assert snapshot["me"]["user"] == "bob"
    await close_all(*sockets[1:], another)


async def test_an_accounts_budget_is_shared_by_all_its_sockets(space, bob, settings):
    settings.SPACES_MESSAGES_PER_USER = 10
    first, _ = await join(space.pk, bob)
    second, _ = await join(space.pk, bob)  # two connections have cost two messages
    for communicator in (first, second):
        for _ in range(5):  # well within what one socket may send
            await act(communicator, "snapshot")
    answers = [*await everything(first), *await everything(second)]
    assert [a["event"] for a in answers].count("snapshot") == 8  # ten, less the two connections
    errors = [a for a in answers if a["event"] == "error"]
    assert errors and {e["reason"] for e in errors} == {"Slow down: too many messages."}
    await close_all(first, second)


async def everything(communicator) -> list[dict]:
    """What the socket was sent until it has been quiet for half a second (presence aside)."""
    messages = []
    while not await communicator.receive_nothing(timeout=0.5):
        message = await receive(communicator)
        if message["event"] != "presence":
            messages.append(message)
    return messages


async def test_the_http_fallback_counts_the_same_budget_and_answers_429(space, alice, bob, settings):
    settings.SPACES_MESSAGES_PER_USER = 5
    await database_sync_to_async(put_on_stage)(space, bob, muted=False)
    client = Client()
    await database_sync_to_async(client.force_login)(bob)
    # Twelve presses within at most two 5-second windows: one window sees at least six.
    responses = [await database_sync_to_async(client.post)(f"/spaces/{space.pk}/room/mute/") for _ in range(12)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited and all(r.status_code in (200, 429) for r in responses)
    assert limited[0].json() == {"event": "error", "action": "mute", "reason": "Slow down: too many messages."}


async def test_a_consumer_cancelled_mid_action_leaves_the_room(space, bob, carol):
    """Daphne cancels a consumer that outlives its client by 10 s; disconnect() never runs then."""
    staying, _ = await join(space.pk, carol)
    leaving, _ = await join(space.pk, bob)
    hub = await hubs.get_hub()
    assert len(hub.rooms[space.pk].sockets) == 2
    await act(leaving, "snapshot")  # busy with the database when it is cancelled
    leaving.future.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leaving.future
    assert len(hub.rooms[space.pk].sockets) == 1
    assert hub.listener_count(space.pk) is not None
    await close_all(staying)
