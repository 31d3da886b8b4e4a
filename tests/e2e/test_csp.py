"""Every page works under the Content-Security-Policy (issue 10, item 15): Chromium reports no violation
and no script error on any of them, their scripts run (times are rewritten, buttons answer), and the
live room still connects, publishes and plays audio."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from accounts import services as accounts
from payments.models import BoxOffice
from rooms.models import Notification, Participant, Space, Topic
from tests.e2e.conftest import connected_peer, hang_up, problems, room_is_connected, visit
from tests.live.roomkit import live_space, make_space, put_on_stage
from tests.media.peers import ClientPeer
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, RoomSocket

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


async def test_the_policy_is_sent_and_strict(room_server, chromium):
    page = await visit(chromium, room_server, "/")
    response = await page.request.get(f"{room_server.base_url}/")
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "'self'" in directives["connect-src"] and "'unsafe-inline'" not in policy
    assert directives["object-src"] == "'none'"


@pytest.fixture
def site(alice, bob, make_user) -> dict:
    """A little of everything: a topic, scheduled, ended and ticketed Spaces, a follow, a notification."""
    history = Topic.objects.create(name="History", slug="history")
    scheduled = make_space(alice, title="Engines of history", starts_in=timedelta(days=2), topics=[history])
    ended = make_space(alice, "ended", title="Yesterday's talk")
    ticketed = make_space(alice, title="Paid talk")
    Space.objects.filter(pk=ticketed.pk).update(is_ticketed=True)
    BoxOffice.objects.create(space=ticketed, price=500, currency="usd", capacity=10)
    accounts.follow(bob, alice)  # a "new follower" notification for alice, and a followed host for bob
    Notification.objects.create(
        recipient=bob, kind=Notification.Kind.REMINDER, space=scheduled, actor=alice, text="Soon"
    )
    staff = make_user("root", is_staff=True, is_superuser=True)
    return {"scheduled": scheduled, "ended": ended, "ticketed": ticketed, "alice": alice, "bob": bob, "staff": staff}


# Who looks, and at what: every kind of page (the room is in the test below).
PAGES = {
    "anonymous": [
        "/",
        "/search/?q=engines",
        "/topics/history/",
        "/u/alice/",
        "/spaces/{scheduled}/",
        "/spaces/{ended}/",
        "/spaces/{ticketed}/",
        "/spaces/{ticketed}/tickets/",
        "/accounts/signup/",
        "/accounts/login/",
    ],
    "bob": ["/", "/spaces/{scheduled}/", "/notifications/", "/spaces/new/", "/settings/profile/", "/accounts/email/"],
    "alice": [
        "/spaces/{scheduled}/",
        "/notifications/",
        "/spaces/{ticketed}/tickets/settings/",
        "/spaces/{ticketed}/tickets/sales/",
    ],
    "staff": ["/admin/", "/admin/rooms/space/", "/admin/rooms/space/{scheduled}/change/", "/admin/accounts/user/"],
}


@pytest.mark.parametrize("who", PAGES)
async def test_every_page_runs_without_a_violation(room_server, chromium, site, who):
    user = None if who == "anonymous" else site[who]
    ids = {name: space.pk for name, space in site.items() if isinstance(space, Space)}
    for path in PAGES[who]:
        page = await visit(chromium, room_server, path.format(**ids), user)
        await page.wait_for_load_state("load")
        assert await problems(page) == [], path
        await page.context.close()


async def test_the_pages_scripts_run_under_the_policy(room_server, chromium, site):
    # Times are rewritten from their UTC fallback into the viewer's zone...
    page = await visit(chromium, room_server, f"/spaces/{site['scheduled'].pk}/", timezone_id="Asia/Tokyo")
    await page.wait_for_function(
        "() => !document.querySelector('time[data-when=datetime]').textContent.includes('UTC')"
    )
    assert "GMT+9" in await page.locator('time[data-when="datetime"]').first.inner_text()
    # ... the Space form learns the viewer's zone and shows the date only when scheduling...
    form = await visit(chromium, room_server, "/spaces/new/", site["bob"], timezone_id="Asia/Tokyo")
    assert await form.locator("input[name=tz]").input_value() == "Asia/Tokyo"
    assert await form.locator("#id_scheduled_for").is_hidden()
    await form.get_by_label("Schedule for later").check()
    assert await form.locator("#id_scheduled_for").is_visible()
    # ... and a confirmation still guards a form (site.js, not an inline handler).
    host = await visit(chromium, room_server, f"/spaces/{site['scheduled'].pk}/", site["alice"])
    questions = []

    async def answer_no(dialog) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    host.on("dialog", answer_no)
    await host.get_by_role("button", name="Cancel Space").click()
    assert questions == ["Cancel this Space? People with a reminder will be told."]
    assert "Engines of history" in await host.locator("h1").inner_text()  # still there: not cancelled
    assert await problems(page) == [] and await problems(form) == [] and await problems(host) == []


async def test_the_room_connects_and_plays_audio_for_everyone_under_the_policy(
    room_server, chromium, alice, bob, carol, make_user
):
    dave = await database_sync_to_async(make_user)("dave")

    def arrange():
        space = live_space(alice)
        put_on_stage(space, carol, Participant.Role.SPEAKER, muted=False)
        put_on_stage(space, dave, Participant.Role.SPEAKER, muted=True)
        return space

    space = await database_sync_to_async(arrange)()
    socket = await RoomSocket.open(room_server.room_socket_url(space.pk), carol)
    speaker = ClientPeer(440.0)  # an aiortc speaker, heard by everyone in the room
    try:
        await socket.next("snapshot")
        await speaker.connect(socket.negotiate)
        room = f"/spaces/{space.pk}/room/"
        people = {"anonymous": None, "listener": bob, "speaker": dave, "host": alice}
        pages = await asyncio.gather(*(visit(chromium, room_server, room, user) for user in people.values()))
        visitors = dict(zip(people, pages, strict=True))

        async def hears_the_room(who: str, page) -> None:
            await room_is_connected(page)
            await connected_peer(page, publishing=who in ("speaker", "host"))
            # The room's audio arrives: 50 packets a second once it flows (25 within 3 s is plenty).
            first = await page.evaluate("window.__inbound()")
            await page.wait_for_function(
                "(before) => window.__inbound().then((now) => now.packets - before >= 25)",
                arg=first["packets"],
                timeout=3000,
            )
            assert await problems(page) == [], who

        await asyncio.gather(*(hears_the_room(who, page) for who, page in visitors.items()))
    finally:
        await speaker.close()
        await hang_up(socket)
