"""Accessibility (issue 11): axe-core finds no critical or serious violation on any page, for anyone who can
see it (anonymous, listener, speaker, host, at a desktop's width and a phone's), and every control of the
live room is reached with the Tab key and works from the keyboard.

axe-core runs inside the page (the axe-playwright-python package injects its bundled axe.min.js through the
DevTools protocol, which the page's Content-Security-Policy doesn't govern). Moderate and minor findings
are printed, not failed: `pytest -s` shows them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.async_playwright import Axe
from channels.db import database_sync_to_async

from accounts import services as accounts
from payments.models import BoxOffice
from push.services import new_key_pair
from rooms.models import Notification, Participant, Reminder, Space, Topic
from tests.e2e.conftest import room_is_connected, running_site, visit
from tests.live.roomkit import live_space, make_space, put_on_stage
from tests.recordings.factory import recorded_space
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

FAILING = ("critical", "serious")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def shared_recordings(tmp_path_factory):
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(autouse=True)
def recordings_storage(settings, shared_recordings, tmp_path):
    """The server below and this test process read and write the same recordings folder (the replay page)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(shared_recordings)},
        },
    }
    settings.SPACES_RECORDING_SPOOL_DIR = tmp_path / "spool"


@pytest.fixture(scope="module")
def room_server(django_db_setup, tmp_path_factory, shared_recordings):
    """The site as the e2e tests' server runs it, with Web Push switched on (the settings page's section)."""
    public, private = new_key_pair()
    with running_site(
        tmp_path_factory,
        SPACES_RECORDINGS_DIR=str(shared_recordings),
        VAPID_PUBLIC_KEY=public,
        VAPID_PRIVATE_KEY=private,
        VAPID_SUBJECT="mailto:ops@example.com",
    ) as server:
        yield server


async def serious_violations(page, where: str) -> list[str]:
    """axe-core's critical and serious findings on the page as it is now, one line each."""
    results = await Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core" and results.response["url"] == page.url
    failing, other = [], []
    for violation in results.response["violations"]:
        targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        line = f"{where}: {violation['impact']} {violation['id']} ({violation['help']}) at {targets}"
        (failing if violation["impact"] in FAILING else other).append(line)
    for line in other:
        print(line)
    return failing


@pytest.fixture
def site(alice, bob, carol, make_user, tmp_path) -> dict:
    """Every kind of page with something on it: live, scheduled, ended, ticketed and recorded Spaces, a topic,
    follows, notifications, a reminder."""
    history = Topic.objects.create(name="History", slug="history")
    scheduled = make_space(alice, title="Engines of history", starts_in=timedelta(days=2), topics=[history])
    ended = make_space(alice, "ended", title="Yesterday's talk")
    ticketed = make_space(alice, title="Paid talk")
    Space.objects.filter(pk=ticketed.pk).update(is_ticketed=True)
    BoxOffice.objects.create(space=ticketed, price=500, currency="usd", capacity=10)
    recorded = recorded_space(carol, tmp_path / "spool", seconds=2, title="A recorded talk")
    long_link = "Notes: https://example.com/" + "a-very-long-path-" * 8
    live = live_space(make_user("dora", display_name="Dora Live"), title="On air now", description=long_link)
    accounts.follow(bob, alice)
    Reminder.objects.create(space=scheduled, user=bob)
    Notification.objects.create(
        recipient=bob, kind=Notification.Kind.REMINDER, space=scheduled, actor=alice, text="Soon"
    )
    return {
        "users": {"alice": alice, "bob": bob},
        "ids": {"scheduled": scheduled.pk, "ended": ended.pk, "ticketed": ticketed.pk, "recorded": recorded.pk,
                "live": live.pk},
    }  # fmt: skip


# Who looks, and at what (the live room has its own tests below).
PAGES = {
    "anonymous": [
        "/",
        "/search/?q=engines",
        "/search/",
        "/topics/history/",
        "/u/alice/",
        "/spaces/{scheduled}/",
        "/spaces/{ended}/",
        "/spaces/{live}/",
        "/spaces/{ticketed}/",
        "/spaces/{ticketed}/tickets/",
        "/spaces/{recorded}/replay/",
        "/accounts/signup/",
        "/accounts/login/",
        "/offline/",
    ],
    "bob": ["/", "/spaces/{scheduled}/", "/notifications/", "/spaces/new/", "/settings/profile/", "/u/alice/"],
    "alice": [
        "/spaces/{scheduled}/",
        "/notifications/",
        "/spaces/{ticketed}/tickets/settings/",
        "/spaces/{ticketed}/tickets/sales/",
        "/recordings/",
    ],
}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("who", PAGES)
async def test_every_page_has_no_serious_accessibility_violation(room_server, chromium, site, who, viewport):
    user = site["users"].get(who)
    size = PHONE if viewport == "phone" else {}
    found = []
    for path in PAGES[who]:
        page = await visit(chromium, room_server, path.format(**site["ids"]), user, **size)
        await page.wait_for_load_state("load")
        if path == "/":  # the account menu open too (its items are links and a button)
            menu = page.locator("details.account-menu")
            if await menu.count():
                await menu.locator("summary").click()
        found += await serious_violations(page, f"{who} {path} ({viewport})")
        await page.context.close()
    assert found == []


@pytest.fixture
def room(alice, bob, carol, make_user):
    """A live room with a co-host, a speaker, a listener with a pending request, and a listener."""

    def arrange():
        space = live_space(alice, title="Accessible room")
        put_on_stage(space, carol, Participant.Role.SPEAKER, muted=False)
        put_on_stage(space, make_user("cohost", display_name="Co Host"), Participant.Role.COHOST)
        asker = make_user("asker", display_name="Asker")
        Participant.objects.create(space=space, user=asker, requested_at=space.started_at)  # a listener asking
        return space

    return arrange


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_the_live_room_has_no_serious_violation_for_anyone(
    room_server, chromium, room, alice, bob, carol, viewport
):
    space = await database_sync_to_async(room)()
    size = PHONE if viewport == "phone" else {}
    found = []
    for who, user in {"anonymous": None, "listener": bob, "speaker": carol, "host": alice}.items():
        page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", user, **size)
        await room_is_connected(page)
        found += await serious_violations(page, f"room as {who} ({viewport})")
        if who == "host":
            # The host's speaker menu, then the people list, open.
            await page.locator('[data-stage] li[data-user="carol"] summary').click()
            found += await serious_violations(page, f"room as host, a speaker's menu open ({viewport})")
            await page.keyboard.press("Escape")
            await page.locator("[data-open-audience]").click()
            await page.locator("[data-audience][open]").wait_for()
            found += await serious_violations(page, f"room as host, people list open ({viewport})")
        await page.context.close()
    assert found == []


# What a keyboard user must be able to reach in the room as its host (each visible and enabled).
# A control with tabindex="-1" is left out on purpose: one of a group reached with the arrow keys (tabs).
FOCUSABLE = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), summary, [tabindex='0']"


async def test_every_room_control_is_reached_with_tab_and_works_from_the_keyboard(room_server, chromium, room, alice):
    space = await database_sync_to_async(room)()
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
    await room_is_connected(page)
    await page.locator('[data-moderation] [data-requests] li[data-user="asker"]').wait_for()
    controls = await page.locator(f"#room :is({FOCUSABLE})").evaluate_all(
        """(nodes) => nodes.filter((node) => node.checkVisibility() && node.tabIndex >= 0
                                          && !node.closest('[inert], dialog:not([open])'))
                      .map((node) => node.outerHTML.slice(0, 120))"""
    )
    assert len(controls) >= 15, controls  # stage menus, requests, invite form, footer, reactions

    # Tab from the top of the page: every one of them takes the focus, and shows that it has it.
    reached, outlines = [], {}
    await page.locator("body").focus()
    for _ in range(len(controls) + 40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """() => { const node = document.activeElement;
                       if (!node || !node.closest('#room')) return null;
                       const style = getComputedStyle(node);
                       const ring = style.outlineStyle !== 'none' || style.boxShadow !== 'none';
                       return [node.outerHTML.slice(0, 120), ring]; }"""
        )
        if focused:
            reached.append(focused[0])
            outlines[focused[0]] = focused[1]
    missing = [control for control in controls if control not in reached]
    assert missing == [], missing
    assert [control for control, shown in outlines.items() if not shown] == []  # a visible focus ring

    # The keyboard works them: the speaker menu opens with Enter and Escape closes it, focus back on it.
    summary = page.locator('[data-stage] li[data-user="carol"] summary')
    await summary.focus()
    await page.keyboard.press("Enter")
    await page.locator('[data-stage] li[data-user="carol"] details[open]').wait_for()
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.dataset.action") == "mute"
    await page.keyboard.press("Escape")
    assert await page.locator('[data-stage] li[data-user="carol"] details[open]').count() == 0
    assert await page.evaluate("() => document.activeElement.tagName") == "SUMMARY"

    # The people list opens from its button with Space, and Escape gives the focus back to it.
    people = page.locator("[data-open-audience]")
    await people.focus()
    await page.keyboard.press(" ")
    await page.locator("[data-audience][open]").wait_for()
    await page.keyboard.press("Escape")
    await page.locator("[data-audience][open]").wait_for(state="detached")
    assert await page.evaluate("() => document.activeElement.hasAttribute('data-open-audience')")

    # A tab list (the chat's "Messages" / "Moderation log"): Tab reaches its selected tab, the arrow keys the rest.
    for tablist in await page.locator("#room [role=tablist]").all():
        if not await tablist.is_visible():
            continue
        tabs = await tablist.locator("[role=tab]").evaluate_all("(nodes) => nodes.map((node) => node.id)")
        await tablist.locator("[role=tab][aria-selected=true]").focus()
        seen = {await page.evaluate("() => document.activeElement.id")}
        for _ in tabs[1:]:
            await page.keyboard.press("ArrowRight")
            seen.add(await page.evaluate("() => document.activeElement.id"))
        assert seen == set(tabs), (tabs, seen)
        assert await page.evaluate("() => document.activeElement.getAttribute('aria-selected')") == "true"

    # A request is approved from the keyboard alone.
    approve = page.locator('[data-requests] li[data-user="asker"] button[data-action="approve_request"]')
    await approve.focus()
    await page.keyboard.press("Enter")
    await page.locator('[data-stage] li[data-user="asker"]').wait_for()
