"""Two Daphne processes serve one room together through Redis (channels-redis), as in production."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live import presence
from tests.live.roomkit import live_space
from tests.servers import RoomSocket, Server, free_port

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PRESENCE_TTL = 3


def start_daphne(log) -> Server:
    port = free_port()
    env = {
        "REDIS_URL": settings.REDIS_URL,
        "SPACES_PRESENCE_TTL": str(PRESENCE_TTL),
        "SPACES_MEDIA_IN_PROCESS": "False",
    }
    args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces_site.asgi:application"]
    return Server(args, log, port=port, env=env)


@pytest.fixture
def daphnes(tmp_path):
    servers = [start_daphne(tmp_path / f"daphne-{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.wait_listening()
        yield servers
    finally:
        for server in servers:
            server.kill()


async def count_reaches(sock: RoomSocket, expected: int, timeout: float) -> float:
    """Seconds until a `presence` event on `sock` says `expected` people are here."""
    started = time.monotonic()
    while True:
        message = await sock.next("presence", timeout=max(timeout - (time.monotonic() - started), 0.01))
        if message["listener_count"] == expected:
            return time.monotonic() - started


async def test_two_daphnes_share_a_room(daphnes, alice, bob, carol):
    a, b = daphnes
    space = await database_sync_to_async(live_space)(alice)
    store = presence.backend()
    await store.clear(space.pk)  # a room of the same id from an earlier test database
    host = await RoomSocket.open(a.room_socket_url(space.pk), alice)
    speaker = await RoomSocket.open(b.room_socket_url(space.pk), bob)
    anonymous = await RoomSocket.open(b.room_socket_url(space.pk))
    for sock in (host, speaker, anonymous):
        assert (await sock.next())["event"] == "snapshot"

    # An action on one process reaches sockets on both, with one seq everywhere.
    await speaker.send(action="request_to_speak")
    on_host = await host.next()
    assert on_host["event"] == "request_added" and on_host["user"] == "bob"
    assert (await speaker.next())["seq"] == on_host["seq"]
    assert await anonymous.next() == {"event": "noop", "seq": on_host["seq"]}

    await host.send(action="approve_request", user="bob")
    seen = [await speaker.next() for _ in range(2)]
    assert [m["event"] for m in seen] == ["request_removed", "role_changed"]
    assert [m["seq"] for m in seen] == [on_host["seq"] + 1, on_host["seq"] + 2]
    assert [m["seq"] for m in [await anonymous.next() for _ in range(2)]] == [m["seq"] for m in seen]

    # Presence is summed over both processes.
    await count_reaches(host, 3, timeout=5)

    # Logging out over HTTP closes the user's sockets on every process.
    client = Client()
    await database_sync_to_async(client.force_login)(carol)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    carols = []
    for server in (a, b):
        websocket = await connect(
            server.room_socket_url(space.pk),
            origin="http://127.0.0.1",
            additional_headers={"Cookie": cookie},
            compression=None,
        )
        carols.append(RoomSocket(websocket))
        assert (await carols[-1].next())["me"]["user"] == "carol"
    await count_reaches(host, 5, timeout=5)
    response = await database_sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code == 302
    for sock in carols:
        with pytest.raises(ConnectionClosed) as closed:
            await sock.next(timeout=5)
        assert closed.value.rcvd.code == 4001
    await count_reaches(host, 3, timeout=5)

    # A process that dies stops counting within the presence TTL (60 s in the issue; 3 s here).
    b.kill()
    took = await count_reaches(host, 1, timeout=PRESENCE_TTL + 5)
    assert took <= PRESENCE_TTL + 3
    await host.websocket.close()
    await store.clear(space.pk)
    await store.close()
    # The thread that served database_sync_to_async keeps its connection; let the test database go.
    await database_sync_to_async(connections.close_all)()
