"""Reactions: a fixed set, fanned out to everyone, coalesced, rate limited."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache

from live import protocol
from tests.live.roomkit import act, close_all, join, live_space, receive_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]


@pytest.fixture(autouse=True)
def _fresh_reaction_limits():
    cache.clear()


async def test_reactions_reach_everyone_coalesced(alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    host, _ = await join(space.pk, alice)
    anonymous, _ = await join(space.pk)
    bobs, _ = await join(space.pk, bob)
    carols, _ = await join(space.pk, carol)
    await act(bobs, "react", emoji="👏")
    await act(bobs, "react", emoji="👏")
    await act(carols, "react", emoji="💯")
    for communicator in (host, anonymous):
        totals: dict[str, int] = {}
        users: set[str] = set()
        while sum(totals.values()) < 3:
            message = await receive_event(communicator, "reactions")
            for item in message["reactions"]:
                totals[item["emoji"]] = totals.get(item["emoji"], 0) + item["count"]
                users.update(item["users"])
        assert totals == {"👏": 2, "💯": 1}
        assert users == {"bob", "carol"}
    await close_all(host, anonymous, bobs, carols)


async def test_reactions_outside_the_set_or_too_fast_are_refused(alice, bob):
    space = await database_sync_to_async(live_space)(alice)
    bobs, _ = await join(space.pk, bob)
    await act(bobs, "react", emoji="🍕")
    error = await receive_event(bobs, "error")
    assert (error["action"], error["reason"]) == ("react", "That reaction isn't available.")
    for _ in range(protocol.REACTION_BURST + 1):
        await act(bobs, "react", emoji="👍")
    error = await receive_event(bobs, "error")
    assert error["reason"] == "Slow down: too many reactions."
    await close_all(bobs)
