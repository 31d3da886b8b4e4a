"""GET /spaces/<id>/room/audience/: who is listening, followed people first, then by name, 50 a page.

The list comes from the audience registry the hubs keep (live.presence), so it spans every server
process; the page is read from the database in one query however big the room.
"""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client

from accounts import services as accounts
from accounts.models import Follow, User
from live import presence
from live.audience import PAGE_SIZE
from tests.live.roomkit import close_all, join, live_space, make_space, put_on_stage

pytestmark = [pytest.mark.django_db(transaction=True)]

LISTENERS = 3000  # people in the simulated room
MEDIAN_BOUND = 0.3  # seconds a page takes, typically: ~20 ms idle, ~80 ms with the 2 cores busy with other tests


def get(user, space_id: int, cursor: str | None = None):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(f"/spaces/{space_id}/room/audience/", {"cursor": cursor} if cursor else {})


def registry(method: str, *args) -> None:
    """Call the presence store from sync code, on a client of its own (redis.asyncio belongs to a loop)."""

    async def call() -> None:
        store = presence.backend()
        try:
            await getattr(store, method)(*args)
        finally:
            await store.close()

    async_to_sync(call)()


@pytest.fixture
def clean_registry():
    """Ids restart with each test database; Redis may remember an earlier run's room of the same id."""
    spaces: list[int] = []
    yield spaces.append
    for space_id in spaces:
        registry("clear", space_id)


@pytest.mark.usefixtures("stop_hub")
async def test_everyone_in_the_room_sees_who_listens_followed_people_first(
    alice, bob, carol, make_user, clean_registry
):
    dave = await database_sync_to_async(make_user)("dave", display_name="Zed Dave")
    erin = await database_sync_to_async(make_user)("erin")
    space = await database_sync_to_async(live_space)(alice)
    clean_registry(space.pk)
    await database_sync_to_async(put_on_stage)(space, carol)
    await database_sync_to_async(accounts.follow)(bob, dave)
    await database_sync_to_async(accounts.follow)(bob, erin)
    sockets = [(await join(space.pk, user))[0] for user in (alice, bob, carol, dave, erin, None, None)]
    await _until_counted(space.pk, 7)

    response = await database_sync_to_async(get)(bob, space.pk)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    page = response.json()
    assert page["count"] == 7 and page["anonymous"] == 2 and page["next"] is None
    assert [(p["user"], p["role"], p["followed"]) for p in page["people"]] == [
        ("erin", "listener", True),
        ("dave", "listener", True),  # "Zed Dave": after erin by name
        ("alice", "host", False),  # Alice Liddell
        ("bob", "listener", False),
        ("carol", "speaker", False),
    ]
    assert page["people"][1] == {
        "user": "dave", "user_id": dave.pk, "name": "Zed Dave", "initials": "ZD", "hue": dave.avatar_hue,
        "role": "listener", "followed": True,
    }  # fmt: skip
    # Anonymous visitors of a free Space may look too; nobody is "followed" for them.
    anonymous = (await database_sync_to_async(get)(None, space.pk)).json()
    assert [p["followed"] for p in anonymous["people"]] == [False] * 5
    # People who leave drop out of the list.
    await close_all(sockets[3], sockets[5])
    await _until_counted(space.pk, 5)
    page = (await database_sync_to_async(get)(bob, space.pk)).json()
    assert "dave" not in [p["user"] for p in page["people"]] and page["anonymous"] == 1
    await close_all(*sockets)


def test_those_who_may_not_enter_get_a_json_refusal(alice, bob, carol, clean_registry):
    space = live_space(alice)
    clean_registry(space.pk)
    accounts.block(alice, bob)
    assert get(bob, space.pk).status_code == 403
    assert get(bob, space.pk).json() == {
        "event": "error",
        "action": "audience",
        "reason": "This Space isn't available.",
    }
    scheduled = make_space(carol)
    assert get(alice, scheduled.pk).json()["reason"] == "This Space isn't live."
    assert get(alice, 999_999).status_code == 404
    bad = get(carol, space.pk, cursor="not-a-cursor")
    assert bad.status_code == 400 and bad.json()["reason"] == "That page cursor isn't valid."


def test_thousands_of_listeners_page_quickly_and_in_order(alice, bob, clean_registry):
    space = live_space(alice)
    clean_registry(space.pk)
    users = User.objects.bulk_create(
        User(
            username=f"l{i:05d}",
            handle=f"l{i:05d}",
            email=f"l{i}@example.com",
            display_name=f"Listener {(i * 7919) % LISTENERS:05d}",
        )
        for i in range(LISTENERS)
    )
    followed = users[::30]  # bob follows a hundred of them
    Follow.objects.bulk_create(Follow(follower=bob, followee=user) for user in followed)
    # As other server processes would report them: two hubs, and anonymous listeners on each.
    half = LISTENERS // 2
    registry("report_audience", space.pk, "process-a", [u.pk for u in users[:half]], 40)
    registry("report_audience", space.pk, "process-b", [u.pk for u in users[half:]], 2)

    seen, times, cursor = [], [], None
    while True:
        started = time.monotonic()
        response = get(bob, space.pk, cursor)
        times.append(time.monotonic() - started)
        page = response.json()
        assert page["count"] == LISTENERS + 42 and page["anonymous"] == 42
        assert len(page["people"]) == PAGE_SIZE or page["next"] is None
        seen += page["people"]
        cursor = page["next"]
        if cursor is None:
            break
    print(
        f"\n{LISTENERS} listeners in {len(times)} pages of {PAGE_SIZE} (test client, whole request): median page "
        f"{sorted(times)[len(times) // 2] * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms"
    )
    assert len(seen) == LISTENERS and len({p["user_id"] for p in seen}) == LISTENERS
    assert [p["followed"] for p in seen] == [True] * len(followed) + [False] * (LISTENERS - len(followed))
    for part in (seen[: len(followed)], seen[len(followed) :]):
        assert [p["name"] for p in part] == sorted(p["name"] for p in part)
    assert sorted(times)[len(times) // 2] < MEDIAN_BOUND


async def _until_counted(space_id: int, people: int) -> None:
    """Until the hub's next presence tick has put everyone in the registry."""
    import asyncio

    for _ in range(60):
        audience = await database_sync_to_async(presence.read_audience)(space_id)
        if len(audience.user_ids) + audience.anonymous == people:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the registry never counted {people}")
