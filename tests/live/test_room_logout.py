"""Logging out over HTTP closes that user's open room sockets, and nobody else's."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from spaces_site.asgi import application
from tests.live.roomkit import ORIGIN, close_all, join, live_space, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]


async def test_logging_out_closes_my_sockets(alice, bob):
    space = await database_sync_to_async(live_space)(alice)
    client = Client()
    await database_sync_to_async(client.force_login)(bob)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    bobs = []
    for _ in range(2):  # two tabs
        communicator = WebsocketCommunicator(
            application, f"/ws/spaces/{space.pk}/", headers=[ORIGIN, (b"cookie", cookie.encode())]
        )
        assert (await communicator.connect())[0]
        assert (await receive(communicator))["me"]["user"] == "bob"
        bobs.append(communicator)
    host, _ = await join(space.pk, alice)

    response = await database_sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code == 302

    for communicator in bobs:
        message = await communicator.receive_output(timeout=2)
        while message["type"] == "websocket.send":  # a presence update may come first
            message = await communicator.receive_output(timeout=2)
        assert message == {"type": "websocket.close", "code": 4001}
    await host.send_json_to({"action": "snapshot"})
    assert (await receive(host))["event"] in ("snapshot", "presence")
    await close_all(host)
