"""No paid ticket, no room: the page, the websocket and the audio path all ask rooms.access."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.utils import timezone

from live import stage
from live.access import can_enter, entry_refusal
from live.routing import websocket_urlpatterns
from payments.gate import TICKET_REQUIRED
from payments.models import Ticket
from rooms.models import Participant, Space


def _go_live(space: Space) -> Space:
    space.start()
    space.save()
    return space


def _paid_ticket(space: Space, user, state: str = Ticket.State.PAID) -> Ticket:
    # Tickets are paid through Stripe in the other modules; here only the access rule is under test.
    return Ticket.objects.create(
        space=space,
        buyer=user,
        state=state,
        amount=500,
        currency="usd",
        fee_amount=15,
        net_amount=485,
        paid_at=timezone.now(),
    )


@pytest.fixture
def live_space(space) -> Space:
    return _go_live(space)


@pytest.mark.django_db
def test_a_listener_without_a_ticket_is_refused(live_space, bob):
    assert entry_refusal(live_space, bob) == TICKET_REQUIRED
    assert entry_refusal(live_space, AnonymousUser()) == TICKET_REQUIRED
    assert not can_enter(live_space, bob)


@pytest.mark.django_db
@pytest.mark.parametrize("state", [Ticket.State.RESERVED, Ticket.State.PENDING, Ticket.State.REFUNDED])
def test_an_unpaid_or_refunded_ticket_does_not_open_the_door(live_space, bob, state):
    _paid_ticket(live_space, bob, state)
    assert entry_refusal(live_space, bob) == TICKET_REQUIRED


@pytest.mark.django_db
def test_a_paid_ticket_opens_the_door(live_space, bob):
    _paid_ticket(live_space, bob)
    assert entry_refusal(live_space, bob) is None


@pytest.mark.django_db
def test_host_cohosts_and_invited_speakers_need_no_ticket(live_space, alice, make_user):
    cohost, speaker, invited = make_user("cohost"), make_user("speaker"), make_user("invited")
    Participant.objects.create(space=live_space, user=cohost, role=Participant.Role.COHOST)
    Participant.objects.create(space=live_space, user=speaker, role=Participant.Role.SPEAKER)
    Participant.objects.create(space=live_space, user=invited, invited_at=timezone.now())
    for user in (alice, cohost, speaker, invited):
        assert entry_refusal(live_space, user) is None, user


@pytest.mark.django_db
def test_a_free_space_needs_no_ticket(make_space, alice, bob):
    space = _go_live(make_space(alice, price=None))
    assert entry_refusal(space, bob) is None


@pytest.mark.django_db
def test_the_room_page_refuses_and_the_box_office_offers_a_ticket(fake_stripe, live_space, buyer_client):
    page = buyer_client.get(live_space.get_absolute_url()).content.decode()
    assert TICKET_REQUIRED in page
    office = buyer_client.get(f"/spaces/{live_space.pk}/tickets/").content.decode()
    assert "Buy a ticket · 5.00 USD" in office
    assert f'action="/spaces/{live_space.pk}/tickets/buy/"' in office


@pytest.mark.django_db
def test_the_audio_path_is_refused_without_a_ticket(live_space, bob):
    # The consumer asks this before every webrtc_offer reaches the media engine.
    assert stage.connect_refusal(live_space.pk, bob) == TICKET_REQUIRED
    _paid_ticket(live_space, bob)
    assert stage.connect_refusal(live_space.pk, bob) is None


async def _close_db_connections() -> None:
    # The consumer's database_sync_to_async thread keeps its connection (CONN_MAX_AGE); on PostgreSQL a
    # leftover connection would stop the test database from being dropped.
    await sync_to_async(connections.close_all)()


async def _connect(space_id: int, user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/spaces/{space_id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_the_socket_is_closed_without_a_ticket(make_space, alice, bob):
    space = await sync_to_async(lambda: _go_live(make_space(alice)))()
    communicator = await _connect(space.pk, bob)
    message = json.loads(await communicator.receive_from())
    assert (message["event"], message["reason"]) == ("error", TICKET_REQUIRED)
    assert (await communicator.receive_output())["code"] == 4003
    await communicator.disconnect()
    await _close_db_connections()


@pytest.mark.django_db(transaction=True)
async def test_the_socket_opens_with_a_paid_ticket(make_space, alice, bob):
    space = await sync_to_async(lambda: _go_live(make_space(alice)))()
    await sync_to_async(_paid_ticket)(space, bob)
    communicator = await _connect(space.pk, bob)
    message = json.loads(await communicator.receive_from())
    assert message["event"] != "error"
    await communicator.disconnect()
    await _close_db_connections()
