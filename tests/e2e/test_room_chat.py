"""The room's chat in Chromium on the real page: hostile text stays text (under the site's CSP), links are
made clickable safely, the panel fits a 390 px phone and keeps your place when you've scrolled up, and the
host deletes a message and pins a link from it. The other people are real websockets."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from accounts.models import Block
from live.models import ChatMessage
from reports.models import Report
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

PAYLOADS = [
    '<img src=x onerror="window.__xss = 1">',
    "<script>window.__xss = 2</script>",
    '"><svg onload="window.__xss=3">',
    "javascript:window.__xss=4",
    "see https://example.com/a?q=1&x=2, then <b>bold</b>",
]


async def test_hostile_text_is_shown_as_text_and_links_are_safe(room_server, chromium, alice, bob, settings):
    space = await database_sync_to_async(live_space)(alice)
    chatter = await RoomSocket.open(room_server.room_socket_url(space.pk), bob)
    await chatter.next("snapshot")
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
    await room_is_connected(page)
    for text in PAYLOADS:
        await chatter.send(action="chat", text=text)
        await chatter.next("chat_message")
    messages = page.locator("[data-chat-list] .chat__text")
    shown = f"() => document.querySelectorAll('[data-chat-list] .chat__text').length === {len(PAYLOADS)}"
    await page.wait_for_function(shown)
    assert await messages.all_text_contents() == PAYLOADS
    injected = page.locator("[data-chat-list] img, [data-chat-list] script, [data-chat-list] svg:not(.icon)")
    assert await injected.count() == 0
    assert await page.evaluate("() => window.__xss") is None
    links = page.locator("[data-chat-list] a.chat__link")
    assert await links.count() == 1
    assert await links.get_attribute("href") == "https://example.com/a?q=1&x=2"  # the comma ends the sentence
    assert await links.get_attribute("rel") == "nofollow ugc noopener"
    assert await problems(page) == []
    await chatter.close()


async def test_the_panel_fits_a_phone_and_keeps_your_place(room_server, chromium, alice, bob):
    def arrange():
        space = live_space(alice)
        ChatMessage.objects.bulk_create([ChatMessage(space=space, user=alice, text=f"earlier {n}") for n in range(80)])
        return space

    space = await database_sync_to_async(arrange)()
    host = await RoomSocket.open(room_server.room_socket_url(space.pk), alice)
    await host.next("snapshot")
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob, width=390, height=844)
    await room_is_connected(page)
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
    box = await page.locator("[data-chat-scroll]").bounding_box()
    assert box["width"] <= 390 and box["height"] > 150

    # You send a message from the phone: it arrives, and the input is free again.
    await page.locator("#chat-text").fill("Hello from a phone")
    await page.locator("[data-chat-form] button[type=submit]").click()
    await page.locator("[data-chat-list] .chat__text", has_text="Hello from a phone").wait_for()
    assert await page.locator("#chat-text").input_value() == ""

    # Scrolled up into the history: a new message doesn't move you; "New messages" appears instead.
    await page.locator("[data-chat-scroll]").evaluate("(node) => { node.scrollTop = 0; }")
    await page.locator("[data-chat-list] .chat__text", has_text="earlier 0").wait_for()  # older page loaded
    before = await page.locator("[data-chat-scroll]").evaluate("(node) => node.scrollTop")
    await host.send(action="chat", text="while you were reading")
    await page.locator("[data-chat-new]").wait_for(state="visible")
    after = await page.locator("[data-chat-scroll]").evaluate("(node) => node.scrollTop")
    assert abs(after - before) < 2
    await page.locator("[data-chat-new]").click()
    await page.locator("[data-chat-new]").wait_for(state="hidden")
    # Screen readers hear it through a polite live region (at most one summary every few seconds).
    announcer = page.locator("[data-chat-announcer]")
    assert await announcer.get_attribute("aria-live") == "polite"
    await page.locator("[data-chat-announcer]", has_text="Alice Liddell: while you were reading").wait_for(
        state="attached"
    )
    assert await problems(page) == []
    await host.close()


async def test_the_host_deletes_a_message_and_pins_a_link(room_server, chromium, alice, bob):
    space = await database_sync_to_async(live_space)(alice)
    chatter = await RoomSocket.open(room_server.room_socket_url(space.pk), bob)
    await chatter.next("snapshot")
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
    await room_is_connected(page)
    await chatter.send(action="chat", text="buy cheap followers")
    item = page.locator('[data-chat-list] li[data-user="bob"]')
    await item.wait_for()
    await item.locator("summary").click()
    await item.get_by_role("button", name="Delete").click()
    await page.locator("[data-chat-list] .chat__text--deleted").wait_for()
    assert (await chatter.next("message_deleted"))["by"] == "alice"

    await page.locator("[data-chat-settings] summary").click()
    await page.locator("#pin-url").fill("https://example.com/slides")
    await page.locator("#pin-title").fill("Tonight's slides")
    await page.locator("[data-pin-form] button[type=submit]").click()
    pinned = page.locator("[data-pinned-link]")
    await pinned.wait_for(state="visible")
    assert await pinned.text_content() == "Tonight's slides"
    assert await page.locator("[data-pinned-domain]").text_content() == "(example.com)"
    assert (await chatter.next("pinned"))["link"]["url"] == "https://example.com/slides"

    await page.locator('[data-chat-tab="log"]').click()
    await page.locator("[data-log-list] li", has_text="Deleted a chat message").wait_for()
    assert await problems(page) == []
    await chatter.close()


async def test_a_listener_reports_a_message_and_blocks_its_author(room_server, chromium, alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    troll = await RoomSocket.open(room_server.room_socket_url(space.pk), carol)
    await troll.next("snapshot")
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob, width=390, height=844)
    await room_is_connected(page)
    await troll.send(action="chat", text="you all sound stupid")
    item = page.locator('[data-chat-list] li[data-user="carol"]')
    await item.wait_for()
    await item.locator("summary").click()
    await item.get_by_role("button", name="Report message").click()
    dialog = page.locator("dialog[data-report]")
    await dialog.wait_for(state="visible")
    await dialog.get_by_label("Harassment or bullying").check()
    await dialog.locator("textarea").fill("Insults everyone")
    await dialog.get_by_label("Also block them").check()
    await dialog.get_by_role("button", name="Send report").click()
    await dialog.wait_for(state="hidden")
    await page.locator("[data-chat-rules]", has_text="your report went to the staff").wait_for()

    report = await database_sync_to_async(Report.objects.get)()
    assert (report.kind, report.reason, report.message_text) == ("message", "harassment", "you all sound stupid")
    assert await database_sync_to_async(Block.objects.filter(blocker=bob, blocked=carol).exists)()
    assert await problems(page) == []
    await troll.close()
