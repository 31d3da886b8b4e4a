"""Two Daphne processes serve one room together through Redis (channels-redis), as in production."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms import presence
from tests.rooms.roomkit import live_space, session_cookie

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BASE_DIR = Path(settings.BASE_DIR)
PRESENCE_TTL = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict  # pytest-django's test database, where this test's rows are
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Daphne:
    def __init__(self) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "SPACES_PRESENCE_TTL": str(PRESENCE_TTL),
            "SPACES_MEDIA_IN_PROCESS": "False",
            "DJANGO_SETTINGS_MODULE": "spaces_site.settings",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "spaces_site.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read().decode()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"daphne on {self.port} did not start")

    def url(self, space_id: int) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/spaces/{space_id}/"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)  # a crash: no clean disconnect for anyone
            self.process.wait(10)


@pytest.fixture
def daphnes():
    servers = [Daphne(), Daphne()]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.kill()
            server.process.stderr.close()


class Socket:
    def __init__(self, websocket) -> None:
        self.websocket = websocket

    @classmethod
    async def open(cls, url: str, user=None) -> Socket:
        headers = {}
        if user is not None:
            headers["Cookie"] = await database_sync_to_async(session_cookie)(user)
        websocket = await connect(url, origin="http://127.0.0.1", additional_headers=headers, compression=None)
        return cls(websocket)

    async def next(self, name: str | None = None, timeout: float = 5, *, skip=("presence", "reactions")) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = json.loads(await asyncio.wait_for(self.websocket.recv(), max(left, 0.01)))
            if name is None and message["event"] not in skip:
                return message
            if message["event"] == name:
                return message

    async def send(self, **message) -> None:
        await self.websocket.send(json.dumps(message))

    async def count_reaches(self, expected: int, timeout: float) -> float:
        started = time.monotonic()
        while True:
            message = await self.next("presence", timeout=max(timeout - (time.monotonic() - started), 0.01))
            if message["listener_count"] == expected:
                return time.monotonic() - started


async def test_two_daphnes_share_a_room(daphnes, alice, bob, carol):
    a, b = daphnes
    space = await database_sync_to_async(live_space)(alice)
    store = presence.backend()
    await store.clear(space.pk)  # a room of the same id from an earlier test database
    host = await Socket.open(a.url(space.pk), alice)
    speaker = await Socket.open(b.url(space.pk), bob)
    anonymous = await Socket.open(b.url(space.pk))
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
    await host.count_reaches(3, timeout=5)

    # Logging out over HTTP closes the user's sockets on every process.
    client = Client()
    await database_sync_to_async(client.force_login)(carol)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    carols = []
    for server in (a, b):
        websocket = await connect(
            server.url(space.pk), origin="http://127.0.0.1", additional_headers={"Cookie": cookie}, compression=None
        )
        carols.append(Socket(websocket))
        assert (await carols[-1].next())["me"]["user"] == "carol"
    await host.count_reaches(5, timeout=5)
    response = await database_sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code == 302
    for sock in carols:
        with pytest.raises(ConnectionClosed) as closed:
            await sock.next(timeout=5)
        assert closed.value.rcvd.code == 4001
    await host.count_reaches(3, timeout=5)

    # A process that dies stops counting within the presence TTL (60 s in the issue; 3 s here).
    b.kill()
    took = await host.count_reaches(1, timeout=PRESENCE_TTL + 5)
    assert took <= PRESENCE_TTL + 3
    await host.websocket.close()
    await store.clear(space.pk)
    await store.close()
    # The thread that served database_sync_to_async keeps its connection; let the test database go.
    await database_sync_to_async(connections.close_all)()
