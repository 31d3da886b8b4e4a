"""The room beyond its stage controls, in Chromium on the real page: requests oldest first with their
waiting time, sharing (Web Share API or a copied link) and link previews, push-to-talk, who is speaking
said to screen readers, every control reachable by keyboard, and SVG icons rather than emoji."""

from __future__ import annotations

import asyncio
import re

import pytest
from channels.db import database_sync_to_async

from rooms.models import Participant
from tests.e2e.conftest import hang_up, problems, room_is_connected, visit
from tests.live.roomkit import live_space, put_on_stage
from tests.media.peers import ClientPeer
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, RoomSocket

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")

# Everything the screen-reader region says, in order.
RECORD_ANNOUNCEMENTS = """() => {
  window.__said = [];
  const region = document.querySelector("[data-speaking-announcer]");
  const record = () => window.__said.push(region.textContent);
  new MutationObserver(record).observe(region, { childList: true, characterData: true, subtree: true });
}"""

# A control as a test names it: its action, its emoji, its text or its label.
NAME_OF = (
    "(node) => node.dataset.action || node.dataset.emoji || node.textContent.trim() || node.getAttribute('aria-label')"
)
VISIBLE_CONTROLS = f"""(room) => [...room.querySelectorAll("button, a[href], summary, input")]
  .filter((node) => node.checkVisibility() && !node.closest("dialog"))
  .filter((node) => node.tabIndex >= 0)  /* a tab of a tablist with tabindex=-1 is reached with the arrow keys */
  .map({NAME_OF})"""


async def test_hosts_see_requests_oldest_first_with_their_wait(room_server, chromium, alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    carols = await RoomSocket.open(room_server.room_socket_url(space.pk), carol)
    try:
        await carols.next("snapshot")
        await carols.send(action="request_to_speak")
        await carols.next("request_added")

        asker = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob)
        await room_is_connected(asker)
        await asker.locator('[data-controls] button[data-action="request_to_speak"]').click()
        await asker.locator("[data-queue]").wait_for(state="visible")
        assert "oldest first" in await asker.locator("[data-queue]").inner_text()

        host = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
        await room_is_connected(host)
        requests = host.locator("[data-requests] li")
        await requests.nth(1).wait_for()
        assert await requests.evaluate_all("(rows) => rows.map((row) => row.dataset.user)") == ["carol", "bob"]
        assert "waiting under a minute" in await requests.first.inner_text()
        assert await host.locator("[data-request-count]").inner_text() == "2"
        assert await problems(asker) == [] and await problems(host) == []
    finally:
        await carols.close()


async def test_the_room_can_be_shared_and_unfurls(room_server, chromium, alice):
    space = await database_sync_to_async(live_space)(alice, title="Night owls")
    url = f"{room_server.base_url}/spaces/{space.pk}/"

    # A browser without the Web Share API (desktop Linux): the link goes to the clipboard.
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=room_server.base_url)
    await page.evaluate("() => { delete Navigator.prototype.share; }")
    await page.locator("[data-controls]").get_by_role("button", name="Share").click()
    await page.locator("[data-share-status]", has_text="Link copied.").wait_for()
    assert await page.evaluate("() => navigator.clipboard.readText()") == url

    # A phone's share sheet: the page hands it the Space's link and title.
    await page.evaluate(
        "() => { window.__shared = []; navigator.share = async (data) => { window.__shared.push(data); }; }"
    )
    await page.locator("[data-controls]").get_by_role("button", name="Share").click()
    await page.locator("[data-share-status]", has_text="Shared.").wait_for()
    assert await page.evaluate("() => window.__shared") == [{"url": url, "title": "Night owls"}]

    # A link to the live room unfurls: Open Graph and Twitter-card tags.
    meta = await page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('meta[property], meta[name]')]"
        ".map((tag) => [tag.getAttribute('property') || tag.getAttribute('name'), tag.content]))"
    )
    assert meta["og:title"] == meta["twitter:title"] == "Live now: Night owls"
    assert meta["og:url"] == url and meta["twitter:card"] == "summary"
    assert "@alice" in meta["og:description"]
    assert await problems(page) == []


async def test_a_speaker_holds_space_to_talk(room_server, chromium, alice, bob):
    def arrange():
        space = live_space(alice)
        put_on_stage(space, bob)
        return space

    space = await database_sync_to_async(arrange)()
    host = await RoomSocket.open(room_server.room_socket_url(space.pk), alice)
    try:
        await host.next("snapshot")
        page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob)
        await room_is_connected(page)
        # On stage, room.js publishes the (fake) microphone, muted until he talks.
        await page.wait_for_function(
            "() => window.__lastPc() && window.__lastPc().getSenders().some((s) => s.track)", timeout=15000
        )
        await page.locator("[data-ptt-hint]").wait_for(state="visible")

        await page.keyboard.down("Space")
        unmuted = await host.next("speaker_unmuted")
        assert unmuted["user"] == "bob"
        assert await page.evaluate("() => window.__lastPc().getSenders().some((s) => s.track && s.track.enabled)")
        await page.keyboard.up("Space")
        muted = await host.next("speaker_muted")
        assert muted["user"] == "bob" and muted["by"] == "bob"
        assert await page.evaluate("() => !window.__lastPc().getSenders().some((s) => s.track && s.track.enabled)")

        # In a text field the Space bar types a space.
        await page.keyboard.press("Tab")  # somewhere in the page...
        await page.evaluate("() => document.querySelector('#q').focus()")
        await page.keyboard.down("Space")
        await page.keyboard.up("Space")
        with pytest.raises(asyncio.TimeoutError):
            await host.next("speaker_unmuted", timeout=1)
        assert await page.input_value("#q") == " "
        assert await problems(page) == []
    finally:
        await host.close()


async def test_screen_readers_hear_who_is_speaking_now_and_then(room_server, chromium, alice, carol):
    def arrange():
        space = live_space(alice)
        put_on_stage(space, carol, Participant.Role.SPEAKER, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    socket = await RoomSocket.open(room_server.room_socket_url(space.pk), carol)
    speaker = ClientPeer(440.0)
    try:
        await socket.next("snapshot")
        page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/")
        await room_is_connected(page)
        await page.evaluate(RECORD_ANNOUNCEMENTS)
        await speaker.connect(socket.negotiate)
        announcer = page.locator("[data-speaking-announcer]")
        assert await announcer.get_attribute("aria-live") == "polite"
        await page.locator('[data-stage] li[data-user="carol"].speaker--speaking').wait_for()
        await page.wait_for_function("() => window.__said.length > 0")
        assert await page.evaluate("() => window.__said") == ["carol is speaking."]
        await asyncio.sleep(2.5)  # she keeps talking: ten `speaking` events, and nothing new to say
        assert await page.evaluate("() => window.__said") == ["carol is speaking."]
        assert await problems(page) == []
    finally:
        await speaker.close()
        await hang_up(socket)


async def test_every_control_is_reachable_by_keyboard_and_drawn_without_emoji(room_server, chromium, alice, carol):
    def arrange():
        space = live_space(alice)
        put_on_stage(space, carol, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
    await room_is_connected(page)
    controls = await page.locator("#room").evaluate(VISIBLE_CONTROLS)
    reached = set()
    for _ in range(len(controls) + 25):
        await page.keyboard.press("Tab")
        reached.add(await page.evaluate(f"() => ({NAME_OF})(document.activeElement)"))
    assert set(controls) <= reached, set(controls) - reached

    # The speaker menu opens from the keyboard, and Escape closes it back onto its button.
    summary = page.locator('[data-stage] li[data-user="carol"] summary')
    await summary.focus()
    await page.keyboard.press("Enter")
    menu_item = page.locator('[data-stage] li[data-user="carol"] button[data-action="make_listener"]')
    await menu_item.wait_for(state="visible")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Escape")
    await menu_item.wait_for(state="hidden")
    assert await page.evaluate("() => document.activeElement.tagName") == "SUMMARY"

    # Controls are drawn with SVG icons; emoji only where they are the content (reactions), named in words.
    for text in await page.locator(
        "[data-controls] button:not([data-emoji]), [data-controls] a, [data-stage]"
    ).all_inner_texts():
        assert not EMOJI.search(text), text
    assert await page.locator("[data-stage] .speaker__mic svg").count() == 2
    labels = await page.locator("[data-reactions] button").evaluate_all(
        "(buttons) => buttons.map((b) => b.getAttribute('aria-label'))"
    )
    assert "React clapping" in labels and all(not EMOJI.search(label) for label in labels)
    assert await problems(page) == []
