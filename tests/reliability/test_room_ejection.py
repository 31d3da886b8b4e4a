"""Someone who may no longer be in a live room is ejected at once: the host blocks them, their ticket is
refunded, their account is banned. Their sockets close (4003, after a `removed` with the reason), they
are off the stage and no longer heard, and the people who stay see them go."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from accounts import services as accounts
from live import stage
from payments.models import Ticket
from payments.services.refunds import staff_refund
from rooms import services as rooms
from tests.jobs.money import sell
from tests.live.roomkit import close_all, join, live_space, put_on_stage, receive_delta, receive_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]


async def closed_with(communicator, timeout: float = 3) -> int:
    """The close code the server sent, skipping whatever came before it."""
    while True:
        message = await communicator.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return message["code"]


async def test_a_speaker_the_host_blocks_mid_space_is_ejected_and_silenced(alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    await database_sync_to_async(put_on_stage)(space, bob, muted=False)
    assert bob.pk in await database_sync_to_async(stage.audible_user_ids)(space.pk)
    speaker, _ = await join(space.pk, bob)
    listener, _ = await join(space.pk, carol)

    host = Client()
    await database_sync_to_async(host.force_login)(alice)
    response = await database_sync_to_async(host.post)("/u/bob/block/")  # the profile's Block button
    assert response.status_code == 302

    seen = await receive_delta(listener)
    assert seen["event"] == "removed" and seen["user"] == "bob"
    assert seen["reason"] == "blocked" and seen["by"] == "alice" and seen["previous_role"] == "speaker"
    assert (await receive_delta(speaker))["reason"] == "blocked"
    assert await closed_with(speaker) == 4003
    assert bob.pk not in await database_sync_to_async(stage.audible_user_ids)(space.pk)
    # And they can't come back while blocked.
    again, _ = await join_refused(space.pk, bob)
    assert again == "This Space isn't available."
    await close_all(listener)


async def test_blocking_someone_who_is_not_in_the_room_tells_the_room_nothing(alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    listener, _ = await join(space.pk, carol)
    await database_sync_to_async(accounts.block)(alice, bob)
    assert await listener.receive_nothing(timeout=0.5)
    await close_all(listener)


async def test_a_buyer_whose_ticket_is_refunded_is_ejected(fake_stripe, make_space, make_user, press_buy, alice):
    space = await database_sync_to_async(make_space)(alice)  # ticketed, on sale
    refunded, kept = await database_sync_to_async(
        lambda: [
            Ticket.objects.select_related("buyer").get(pk=t.pk)
            for t in sell(fake_stripe, space, make_user, press_buy, 2)
        ]
    )()
    await database_sync_to_async(rooms.start_space)(space, alice)
    buyer, _ = await join(space.pk, refunded.buyer)
    other, _ = await join(space.pk, kept.buyer)

    # Staff refund the ticket (the admin's action), which calls the fake Stripe.
    await database_sync_to_async(staff_refund)(refunded)

    removed = await receive_delta(other)
    assert removed["event"] == "removed" and removed["user"] == refunded.buyer.handle
    assert removed["reason"] == "ticket_refunded" and removed["by"] == ""
    assert await closed_with(buyer) == 4003
    assert (await join_refused(space.pk, refunded.buyer))[0] == "This Space needs a ticket."
    assert await database_sync_to_async(lambda: Ticket.objects.get(pk=refunded.pk).state)() == Ticket.State.REFUNDED
    await close_all(other)


async def test_a_banned_speaker_in_someone_elses_space_is_ejected_and_silenced(alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    await database_sync_to_async(put_on_stage)(space, bob, muted=False)
    speaker, _ = await join(space.pk, bob)
    listener, _ = await join(space.pk, carol)

    await database_sync_to_async(accounts.ban)(bob)

    removed = await receive_event(listener, "removed")
    assert removed["user"] == "bob" and removed["reason"] == "banned"
    assert await closed_with(speaker) in (4001, 4003)  # the log-out broadcast may close it first
    assert bob.pk not in await database_sync_to_async(stage.audible_user_ids)(space.pk)
    await close_all(listener)


async def join_refused(space_id: int, user) -> tuple[str, int]:
    from tests.live.roomkit import open_socket, receive

    communicator = await open_socket(space_id, user)
    error = await receive(communicator)
    assert error["event"] == "error" and error["action"] == "connect", error
    return error["reason"], await closed_with(communicator)
