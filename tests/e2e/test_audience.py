"""The people in the room (issue 11, "The audience"), in Chromium on the real room page against the real
audience endpoint (GET /spaces/<id>/room/audience/): anyone in the room opens the list, followed people
first, anonymous listeners counted; it follows `presence` while open, pages as it scrolls, and gives the
host "Invite to speak" and "Remove" on each row through the room's socket actions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from channels.db import database_sync_to_async

from accounts import services as accounts
from tests.e2e.conftest import problems, room_is_connected, visit
from tests.live.roomkit import live_space
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, RoomSocket

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


async def open_people(page):
    await room_is_connected(page)
    await page.locator("[data-controls]").get_by_role("button", name="People").click()
    dialog = page.get_by_role("dialog", name="People here")
    await dialog.wait_for(state="visible")
    return dialog


def row(dialog, handle: str):
    return dialog.locator(f'li[data-user="{handle}"]')


async def handles_in(dialog) -> list[str]:
    return await dialog.locator("li[data-user]").evaluate_all("(rows) => rows.map((row) => row.dataset.user)")


@contextlib.asynccontextmanager
async def in_the_room(server, space, *people):
    """Websockets for `people` (None: an anonymous visitor), each past its snapshot."""
    sockets = []
    try:
        for person in people:
            socket = await RoomSocket.open(server.room_socket_url(space.pk), person)
            sockets.append(socket)
            await socket.next("snapshot")
        yield sockets
    finally:
        for socket in sockets:
            await socket.close()


async def test_anyone_in_the_room_sees_who_is_here_followed_people_first(
    room_server, chromium, alice, bob, carol, make_user
):
    dave = await database_sync_to_async(make_user)("dave", display_name="Zed Dave")

    def arrange():
        space = live_space(alice)
        accounts.follow(bob, dave)  # bob follows dave: dave comes first in bob's list, though "Z" sorts last
        return space

    space = await database_sync_to_async(arrange)()
    async with in_the_room(room_server, space, carol, dave, None):
        page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob)
        dialog = await open_people(page)
        await row(dialog, "carol").wait_for()
        await row(dialog, "bob").wait_for()  # the list may be read before bob's own arrival, then presence adds him
        handles = await handles_in(dialog)
        assert sorted(handles) == ["bob", "carol", "dave"]
        assert handles.index("dave") < handles.index("carol")
        assert "Following" in await row(dialog, "dave").inner_text()
        assert "(you)" in await row(dialog, "bob").inner_text()
        assert await dialog.locator("[data-audience-anonymous]").inner_text() == "+ 1 anonymous listener"
        assert await dialog.get_by_role("button", name="Invite to speak").count() == 0  # a listener can't

        # An anonymous visitor may open it too.
        anonymous = await visit(chromium, room_server, f"/spaces/{space.pk}/room/")
        theirs = await open_people(anonymous)
        await row(theirs, "dave").wait_for()
        assert set(await handles_in(theirs)) == {"bob", "carol", "dave"}
        assert await problems(page) == [] and await problems(anonymous) == []


async def test_the_list_follows_people_joining_and_leaving_while_open(room_server, chromium, alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob)
    dialog = await open_people(page)
    await row(dialog, "bob").wait_for()
    async with in_the_room(room_server, space, carol):
        await row(dialog, "carol").wait_for()  # from `presence`, within a second
        assert "2" in await dialog.locator("[data-audience-count]").inner_text()
    await row(dialog, "carol").wait_for(state="detached")
    assert await problems(page) == []


async def test_the_host_invites_and_removes_from_the_list(room_server, chromium, alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    async with in_the_room(room_server, space, bob, carol) as (bobs, carols):
        host = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
        dialog = await open_people(host)
        await row(dialog, "carol").wait_for()
        assert await row(dialog, "alice").get_by_role("button").count() == 0  # nothing to do to herself

        await row(dialog, "bob").get_by_role("button", name="Invite to speak").click()
        invited = await bobs.next("invite_added")
        assert invited["user"] == "bob" and invited["by"] == "alice"

        async def confirm(question) -> None:
            await question.accept()

        host.once("dialog", confirm)
        await row(dialog, "carol").get_by_role("button", name="Remove").click()
        removed = await carols.next("removed")
        assert removed["user"] == "carol"
        await row(dialog, "carol").wait_for(state="detached")
        assert await problems(host) == []


SCROLL_TO_END = (
    "() => { const box = document.querySelector('[data-audience-scroll]'); box.scrollTop = box.scrollHeight; }"
)
ROWS = "() => getComputedStyle(document.querySelector('[data-audience-list]')).getPropertyValue('--rows').trim()"


async def test_the_list_pages_as_it_scrolls(room_server, chromium, alice, make_user):
    many = await database_sync_to_async(lambda: [make_user(f"listener{n:02d}") for n in range(56)])()
    space = await database_sync_to_async(live_space)(alice)
    async with in_the_room(room_server, space, *many):
        page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
        fetched = []
        page.on("request", lambda request: "/room/audience/" in request.url and fetched.append(request.url))
        await open_people(page)
        await page.wait_for_function(f"() => Number(({ROWS})()) >= 50")
        assert len(fetched) == 1, fetched  # one page of 50 until the end of it comes near
        # Scrolling near the end fetches the next page (people joining may draw rows sooner, live).
        async with page.expect_request(lambda request: "/room/audience/" in request.url and "cursor=" in request.url):
            await page.evaluate(SCROLL_TO_END)
        await page.wait_for_function(f"() => Number(({ROWS})()) >= 56")  # the 56 listeners (and alice)
        assert len(fetched) == 2 and "cursor=" in fetched[1]
        assert await page.locator("[data-audience-more]").is_hidden()  # the end
        await page.evaluate(SCROLL_TO_END)
        await page.locator('[data-audience-list] li[data-user="listener55"]').wait_for(state="visible")
        assert await problems(page) == []


async def test_five_thousand_listeners_cost_a_screenful_of_rows(room_server, chromium, alice):
    """The list is windowed: however many people it holds, it draws about a screenful. 5,000 logged-in
    sockets are beyond a test suite, so here the browser is handed 100 pages of the endpoint's own shape
    (the server's paging is tested in tests/live); what is under test is the page's drawing."""
    space = await database_sync_to_async(live_space)(alice)
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)

    async def audience_pages(route) -> None:
        number = int(route.request.url.split("cursor=")[1]) if "cursor=" in route.request.url else 0
        people = [
            {
                "user": f"fan{n}",
                "user_id": 10_000 + n,
                "name": f"Fan number {n}",
                "initials": "F",
                "hue": n % 360,
                "role": "listener",
                "followed": False,
            }
            for n in range(number * 50, number * 50 + 50)
        ]
        body = {"count": 5000, "anonymous": 0, "people": people, "next": str(number + 1) if number < 99 else None}
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    await page.route("**/room/audience/**", audience_pages)
    await open_people(page)
    rows, deadline = 0, time.monotonic() + 60  # a page per scroll: bounded by time, not by a count of tries
    while rows < 5000 and time.monotonic() < deadline:  # (plus alice, once presence names her)
        await page.evaluate(SCROLL_TO_END)
        rows = int(await page.evaluate(ROWS))
        await asyncio.sleep(0.02)
    assert rows >= 5000
    await page.evaluate(SCROLL_TO_END)  # to the end of the last page, too
    last = page.locator('[data-audience-list] li[data-user="fan4999"]')
    await last.wait_for(state="visible")
    assert await last.get_attribute("aria-posinset") == await last.get_attribute("aria-setsize")
    assert await page.locator("[data-audience-list] li").count() < 60
    # Jump back to the middle: the rows there are drawn at once, at their place.
    await page.evaluate(
        "() => { const box = document.querySelector('[data-audience-scroll]'); box.scrollTop = 2500 * 60; }"
    )
    await page.locator('[data-audience-list] li[data-user="fan2500"]').wait_for(state="visible")
    assert await page.locator("[data-audience-list] li").count() < 60
    assert await problems(page) == []
