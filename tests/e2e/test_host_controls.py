"""The host's and speakers' controls in Chromium on the real pages (issue 11): the footer's own mute button
and the stage menus don't hide each other, "Just joined" forgets people on stage, an ended Space says
so, a ticket holder isn't sold a ticket, and whole names show on stage. The other people in the room are
real websockets speaking docs/protocol.md.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from payments.models import BoxOffice, Ticket
from rooms.models import Space
from tests.e2e.conftest import problems, room_is_connected, visit
from tests.live.roomkit import live_space, make_space, put_on_stage
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, RoomSocket

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

FOOTER = "[data-controls]"


def footer_button(page, action: str):
    return page.locator(f'{FOOTER} button[data-action="{action}"]')


def menu_button(page, handle: str, action: str):
    return page.locator(f'[data-stage] li[data-user="{handle}"] button[data-action="{action}"]')


async def test_the_hosts_own_mute_button_and_the_speaker_menu_stay_whole(room_server, chromium, alice, carol):
    def arrange():
        space = live_space(alice)
        put_on_stage(space, carol)
        return space

    space = await database_sync_to_async(arrange)()
    speaker = await RoomSocket.open(room_server.room_socket_url(space.pk), carol)
    try:
        await speaker.next("snapshot")
        host = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
        await room_is_connected(host)
        await footer_button(host, "unmute").wait_for(state="visible")

        # Carol unmutes: her menu now offers "Mute", and the host's own button must not vanish with it.
        await speaker.send(action="unmute")
        await menu_button(host, "carol", "mute").wait_for(state="attached")
        assert await footer_button(host, "unmute").is_visible()

        # The host unmutes herself with it, and then has a Mute button of her own.
        await footer_button(host, "unmute").click()
        await footer_button(host, "mute").wait_for(state="visible")
        assert not await footer_button(host, "unmute").is_visible()

        # "Move to audience" is offered in the host's menu for a speaker, and works.
        await host.locator('[data-stage] li[data-user="carol"] summary').click()
        move = menu_button(host, "carol", "make_listener")
        await move.wait_for(state="visible")
        assert await menu_button(host, "carol", "mute").is_visible()
        await move.click()
        moved = await speaker.next("role_changed")
        assert (moved["user"], moved["role"]) == ("carol", "listener")
        await host.locator('[data-stage] li[data-user="carol"]').wait_for(state="detached")
        assert await footer_button(host, "mute").is_visible()
        assert await problems(host) == []
    finally:
        await speaker.close()


async def test_just_joined_stops_offering_the_stage_to_someone_on_it(room_server, chromium, alice, bob):
    space = await database_sync_to_async(live_space)(alice)
    host = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
    await room_is_connected(host)
    listener = await RoomSocket.open(room_server.room_socket_url(space.pk), bob)
    try:
        await listener.next("snapshot")
        invite = host.locator('[data-joined] li[data-user="bob"] button[data-action="invite_to_speak"]')
        await invite.wait_for(state="visible", timeout=5000)  # presence names him within a second
        await invite.click()
        await listener.next("invite_added")
        await listener.send(action="accept_invite")
        await host.locator('[data-stage] li[data-user="bob"]').wait_for(state="visible")
        await host.locator('[data-joined] li[data-user="bob"]').wait_for(state="detached")
        assert await host.locator("[data-joined-wrap]").is_hidden()
        assert await problems(host) == []
    finally:
        await listener.close()


async def test_a_listener_sees_the_space_end_and_the_page_says_how_long_it_lasted(room_server, chromium, alice, bob):
    space = await database_sync_to_async(live_space)(alice, title="Short talk")
    host = await RoomSocket.open(room_server.room_socket_url(space.pk), alice)
    try:
        await host.next("snapshot")
        page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob)
        await room_is_connected(page)
        assert await page.locator("[data-live-pill]").inner_text() == "LIVE"
        await host.send(action="end_space")

        await page.locator("[data-status]", has_text="This Space has ended").wait_for()
        head = page.locator(".room__live")
        await page.wait_for_function("() => document.querySelector('[data-live-pill]').textContent === 'Ended'")
        assert "LIVE" not in await head.inner_text()
        assert await page.locator("[data-count-wrap]").is_hidden()  # no "2 people here" in an ended room

        await page.goto(f"{room_server.base_url}/spaces/{space.pk}/")
        state = await page.locator(".space-page__state").inner_text()
        assert "Ended just now · lasted under a minute" in state, state
        assert "0 minutes" not in state
        assert await problems(page) == []
    finally:
        await host.close()


async def test_a_ticket_holder_is_not_offered_a_ticket(room_server, chromium, alice, bob, carol):
    def arrange():
        space = make_space(alice, title="Paid talk")
        Space.objects.filter(pk=space.pk).update(is_ticketed=True)
        BoxOffice.objects.create(space=space, price=500, currency="usd", capacity=10)
        Ticket.objects.create(
            space=space,
            buyer=bob,
            state=Ticket.State.PAID,
            amount=500,
            currency="usd",
            fee_amount=15,
            net_amount=485,
            paid_at=timezone.now(),
        )  # bought through Stripe elsewhere (tests/payments); here only what the page shows is under test
        return space

    space = await database_sync_to_async(arrange)()
    holder = await visit(chromium, room_server, f"/spaces/{space.pk}/", bob)
    box = holder.locator(".ticket-box")
    assert "You have a ticket" in await box.inner_text()
    assert await holder.get_by_role("link", name="Get a ticket").count() == 0

    stranger = await visit(chromium, room_server, f"/spaces/{space.pk}/", carol)
    assert await stranger.get_by_role("link", name="Get a ticket").is_visible()
    assert await problems(holder) == [] and await problems(stranger) == []


@pytest.mark.parametrize("width", [1280, 390])
async def test_speaker_names_are_shown_whole(room_server, chromium, alice, make_user, width):
    long_name = "Augusta Ada King, Countess of Lovelace"

    def arrange():
        space = live_space(alice)
        put_on_stage(space, make_user("ada", display_name=long_name))
        return space

    space = await database_sync_to_async(arrange)()
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", width=width, height=844)
    await room_is_connected(page)
    name = page.locator('[data-stage] li[data-user="ada"] .speaker__name')
    assert await name.inner_text() == long_name
    assert await name.get_attribute("title") == long_name  # and in full on hover
    clipped = await name.evaluate(
        "(node) => node.scrollWidth > node.clientWidth || node.scrollHeight > node.clientHeight"
    )
    assert not clipped, "the name is cut"
    assert await problems(page) == []
