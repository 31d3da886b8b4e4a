"""A listener who asked to speak reads their place in line on the room page (issue 11, "The audience"),
and it moves up when the host answers a request ahead of theirs."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.e2e.conftest import problems, room_is_connected, visit
from tests.live.roomkit import live_space
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


async def test_two_requesters_see_their_places_and_the_second_moves_up(room_server, chromium, alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice, title="Open mic")
    url = f"/spaces/{space.pk}/room/"
    host = await visit(chromium, room_server, url, alice)
    first = await visit(chromium, room_server, url, bob)
    second = await visit(chromium, room_server, url, carol)
    for page in (host, first, second):
        await room_is_connected(page)

    await first.get_by_role("button", name="Request to speak").click()
    await host.locator('[data-requests] li[data-user="bob"]').wait_for()  # bob's request is first in
    await second.get_by_role("button", name="Request to speak").click()
    await host.locator('[data-requests] li[data-user="carol"]').wait_for()
    await first.locator("[data-queue]", has_text="You're first in line").wait_for()
    await second.locator("[data-queue]", has_text="You're number 2 in line").wait_for()

    # The host takes bob on stage: carol is first now, and told so (the line is a polite live region).
    await host.locator('[data-requests] li[data-user="bob"] button[data-action="approve_request"]').click()
    await second.locator("[data-queue]", has_text="You're first in line").wait_for()
    assert await second.locator("[data-queue]").get_attribute("role") == "status"
    await first.locator("[data-queue]").wait_for(state="hidden")  # bob is on stage, not in line
    await first.get_by_role("button", name="Unmute").wait_for()

    # Carol takes hers back: the line is gone from her page.
    await second.get_by_role("button", name="Cancel request").click()
    await second.locator("[data-queue]").wait_for(state="hidden")
    for page in (host, first, second):
        assert await problems(page) == []
