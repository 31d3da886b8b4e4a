"""The site on a phone (390×844, issue 11): the top bar stays one row, long words and links wrap inside
their cards, nothing is wider than the screen, and the live room's controls sit in a bar at the bottom of
the screen where one thumb reaches them. Each page is also saved as a screenshot (into
$SPACES_SCREENSHOTS when set, else the test's tmp folder) for a person to look at; the assertions are
about boxes, not pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from accounts import services as accounts
from rooms.models import Notification, Participant, Space
from tests.e2e.conftest import problems, room_is_connected, visit
from tests.live.roomkit import live_space, make_space, put_on_stage
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

WIDTH, HEIGHT = 390, 844
LONG_LINK = "https://en.wikipedia.org/wiki/Ada_Lovelace_and_the_Analytical_Engine_notes_by_the_translator"
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis-and-friends"


async def on_a_phone(browser, server, path: str, user=None):
    return await visit(browser, server, path, user, width=WIDTH, height=HEIGHT, is_mobile=True, has_touch=True)


def screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("SPACES_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"phone-{name}.png"


async def nothing_wider_than_the_screen(page) -> None:
    wide = await page.evaluate(
        """(width) => [...document.querySelectorAll('body *')]
             .filter((node) => node.checkVisibility() && !node.closest('.visually-hidden, .skip-link, [data-float]'))
             .filter((node) => !node.closest('.reaction-picker'))  /* a row that scrolls sideways */
             .filter((node) => { const box = node.getBoundingClientRect();
                                 return box.right > width + 0.5 || box.left < -0.5; })
             .map((node) => node.outerHTML.slice(0, 100))""",
        WIDTH,
    )
    assert wide == [], wide
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= WIDTH


async def the_top_bar_is_one_row(page) -> None:
    bar = await page.locator(".topbar").bounding_box()
    assert bar["height"] <= 72, f"the top bar is {bar['height']} px tall: it wrapped"
    # Every item of the bar (brand, links, buttons) on one line, and on the screen.
    items = await page.locator(".topbar__inner > .brand, .topbar .nav > li").evaluate_all(
        "(nodes) => nodes.filter((n) => n.checkVisibility()).map((n) => { const b = n.getBoundingClientRect();"
        " return [n.textContent.trim().slice(0, 20), b.top, b.bottom, b.right]; })"
    )
    middles = [(top + bottom) / 2 for _, top, bottom, _ in items]
    assert max(middles) - min(middles) <= 8, items
    assert all(right <= WIDTH for *_, right in items), items


@pytest.fixture
def spaces(alice, bob, make_user):
    dora = make_user("dora", display_name="Dora Wordsworth-Longname")
    live = live_space(dora, title=f"Words {LONG_WORD}", description=f"Notes: {LONG_LINK}")
    put_on_stage(live, alice, Participant.Role.SPEAKER, muted=False)
    scheduled = make_space(alice, title=f"Later {LONG_WORD}")
    Space.objects.filter(pk=scheduled.pk).update(description=f"Read first: {LONG_LINK}")
    accounts.follow(bob, dora)
    Notification.objects.create(
        recipient=bob, kind=Notification.Kind.HOST_LIVE, space=live, actor=dora, text=f"Dora is live: {LONG_WORD}"
    )
    return {"live": live, "scheduled": scheduled, "dora": dora}


PAGES = ["/", "/search/?q=words", "/spaces/{live}/", "/spaces/{scheduled}/", "/notifications/", "/settings/profile/"]


@pytest.mark.parametrize("who", ["anonymous", "bob"])
async def test_pages_fit_a_phone_with_a_one_row_top_bar(room_server, chromium, spaces, bob, who, tmp_path):
    user = bob if who == "bob" else None
    for path in PAGES:
        if user is None and path in ("/notifications/", "/settings/profile/"):
            continue
        page = await on_a_phone(
            chromium, room_server, path.format(live=spaces["live"].pk, scheduled=spaces["scheduled"].pk), user
        )
        await page.wait_for_load_state("load")
        name = (
            f"{who}-{path.strip('/').replace('/', '-').replace('?q=', '-').replace('{', '').replace('}', '') or 'home'}"
        )
        await page.screenshot(path=str(screenshot_path(tmp_path, name)), full_page=True)
        await the_top_bar_is_one_row(page)
        await nothing_wider_than_the_screen(page)
        assert await problems(page) == [], path
        await page.context.close()


async def test_long_links_and_words_wrap_inside_their_cards(room_server, chromium, spaces, bob):
    page = await on_a_phone(chromium, room_server, "/", bob)
    for card in await page.locator(".space-card").all():
        box = await card.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= WIDTH
        inner_right = await card.evaluate(
            "(card) => Math.max(...[...card.querySelectorAll('*')].map((n) => n.getBoundingClientRect().right))"
        )
        assert inner_right <= box["x"] + box["width"], "something sticks out of a card"
    # The Space page and the live room: the link breaks onto several lines inside its card.
    for path, card in [
        (f"/spaces/{spaces['scheduled'].pk}/", ".space-page"),
        (f"/spaces/{spaces['live'].pk}/", ".room"),
    ]:
        page = await on_a_phone(chromium, room_server, path, bob)
        link = page.locator(f'{card} a[href="{LONG_LINK}"]').first
        box = await page.locator(card).bounding_box()
        lines = await link.evaluate("(a) => [...a.getClientRects()].map((r) => r.right)")
        assert len(lines) > 1 and max(lines) <= box["x"] + box["width"], (path, lines, box)
        await nothing_wider_than_the_screen(page)


async def the_controls_are_in_a_bottom_bar(page) -> list[str]:
    """The room's controls sit in a bar along the bottom of the screen, each one thumb-sized, on screen and
    not covered by anything. Returns their names."""
    bar = await page.locator("[data-controls]").bounding_box()
    assert abs(bar["y"] + bar["height"] - HEIGHT) <= 1, bar  # flush with the bottom of the screen
    assert bar["y"] >= HEIGHT * 0.6, bar  # in the lower part of the screen, where a thumb reaches
    controls = page.locator("[data-controls] :is(a[href], button)")
    names = []
    for control in await controls.all():
        if not await control.is_visible():
            continue
        await control.scroll_into_view_if_needed()  # the reactions' row scrolls sideways
        box = await control.bounding_box()
        name = (await control.get_attribute("aria-label")) or (await control.inner_text()).strip()
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 0.5, name
        assert box["y"] >= bar["y"] - 0.5 and box["y"] + box["height"] <= HEIGHT + 0.5, name
        assert box["height"] >= 44 and box["width"] >= 40, (name, box)  # a fingertip
        on_top = await control.evaluate(
            "(node) => { const b = node.getBoundingClientRect();"
            " return node.contains(document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2)); }"
        )
        assert on_top, f"{name} is covered"
        names.append(" ".join(name.split()))
    return names


@pytest.mark.parametrize("who", ["anonymous", "listener", "speaker", "host"])
async def test_the_room_controls_sit_in_a_bottom_bar_within_one_thumb(
    room_server, chromium, alice, bob, carol, make_user, who, tmp_path
):
    def arrange():
        space = live_space(alice, title="Thumbs", description=f"Notes: {LONG_LINK}")
        put_on_stage(space, carol, Participant.Role.SPEAKER)
        for n in range(8):  # a full stage: the page scrolls, and the bar stays put
            put_on_stage(space, make_user(f"guest{n}", display_name=f"Guest Speaker {n}"), Participant.Role.SPEAKER)
        return space

    space = await database_sync_to_async(arrange)()
    user = {"anonymous": None, "listener": bob, "speaker": carol, "host": alice}[who]
    page = await on_a_phone(chromium, room_server, f"/spaces/{space.pk}/room/", user)
    await room_is_connected(page)
    await page.screenshot(path=str(screenshot_path(tmp_path, f"room-{who}")))
    names = await the_controls_are_in_a_bottom_bar(page)
    expected = {
        "anonymous": ["Leave quietly", "People", "Share", "Log in to request to speak and react"],
        "listener": ["Leave quietly", "People", "Share", "Request to speak"],
        "speaker": ["Leave quietly", "People", "Share", "Unmute", "Leave the stage"],
        "host": ["Leave quietly", "People", "Share", "Unmute", "End Space"],
    }[who]
    assert [name for name in names if not name.startswith("React")][: len(expected)] == expected
    if who != "anonymous":
        assert sum(name.startswith("React") for name in names) >= 5  # the reactions row
    # Scrolled to the end, the bar is still there and the stage's last speaker shows above it.
    await page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    await the_controls_are_in_a_bottom_bar(page)
    bar_top = (await page.locator("[data-controls]").bounding_box())["y"]
    footer = await page.locator("body > footer").bounding_box()
    assert footer["y"] + footer["height"] <= bar_top + 0.5, "the bar hides the end of the page"
    await nothing_wider_than_the_screen(page)
    await page.screenshot(path=str(screenshot_path(tmp_path, f"room-{who}-scrolled")))
    assert await problems(page) == []


async def test_the_people_list_rises_as_a_sheet_from_the_bottom(room_server, chromium, alice, bob, tmp_path):
    space = await database_sync_to_async(live_space)(alice, title="Sheet")
    page = await on_a_phone(chromium, room_server, f"/spaces/{space.pk}/room/", bob)
    await room_is_connected(page)
    await page.get_by_role("button", name="People").click()
    sheet = await page.locator("[data-audience][open]").bounding_box()
    assert sheet["x"] <= 1 and sheet["width"] >= WIDTH - 1
    assert abs(sheet["y"] + sheet["height"] - HEIGHT) <= 1
    await page.screenshot(path=str(screenshot_path(tmp_path, "room-people")))
    await page.get_by_role("button", name="Close").click()
    assert await problems(page) == []
