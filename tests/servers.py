"""Real server processes for end-to-end tests: Daphne / runserver / runmedia subprocesses that share
pytest-django's PostgreSQL test database, and a websocket client that speaks the room protocol."""

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

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from websockets.asyncio.client import connect

from tests.conftest import ON_POSTGRES
from tests.live.roomkit import session_cookie

BASE_DIR = Path(settings.BASE_DIR)
# Why server subprocesses are skipped on the embedded default.
NEEDS_SHARED_DB = (
    "a server subprocess must see the test's rows: set DATABASE_URL to PostgreSQL "
    "(the embedded default's SQLite test database lives only inside the pytest process)"
)
__all__ = ["ON_POSTGRES", "NEEDS_SHARED_DB", "Server", "RoomSocket", "free_port", "database_url"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """pytest-django's test database (where the test's rows are), as a DATABASE_URL for a subprocess."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Server:
    """A `manage.py` (or `-m daphne`) subprocess on the test database; its output goes to a log file."""

    def __init__(self, args: list[str], log: Path, *, port: int | None = None, env: dict | None = None) -> None:
        self.port = port
        self.log = log
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "spaces_site.settings",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, *args], cwd=BASE_DIR, env=environment, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.process.args} exited:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"nothing listens on {self.port}:\n{self.output()}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def room_socket_url(self, space_id: int) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/spaces/{space_id}/"

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown for anyone."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class RoomSocket:
    """A client of /ws/spaces/<id>/ over a real TCP websocket, logged in by session cookie or anonymous."""

    def __init__(self, websocket) -> None:
        self.websocket = websocket

    @classmethod
    async def open(cls, url: str, user=None) -> RoomSocket:
        headers = {}
        if user is not None:
            headers["Cookie"] = await database_sync_to_async(session_cookie)(user)
        websocket = await connect(url, origin="http://127.0.0.1", additional_headers=headers, compression=None)
        return cls(websocket)

    async def next(self, name: str | None = None, timeout: float = 5, *, skip=("presence", "reactions")) -> dict:
        """The next event called `name`, skipping the others; without a name, the next one not in `skip`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = json.loads(await asyncio.wait_for(self.websocket.recv(), max(deadline - loop.time(), 0.01)))
            if message["event"] == name or (name is None and message["event"] not in skip):
                return message

    async def send(self, **message) -> None:
        await self.websocket.send(json.dumps(message))

    async def negotiate(self, sdp: str, sdp_type: str) -> dict:
        """The audio signalling of docs/media.md: offer on the socket, wait for the answer (or its refusal)."""
        await self.send(action="webrtc_offer", sdp=sdp, type=sdp_type)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            message = json.loads(await asyncio.wait_for(self.websocket.recv(), max(deadline - loop.time(), 0.01)))
            if message["event"] == "webrtc_answer":
                return {"sdp": message["sdp"], "type": message["type"]}
            if message["event"] == "error" and message.get("action") == "webrtc_offer":
                raise OfferRefused(message["reason"])

    async def close(self) -> None:
        await self.websocket.close()


class OfferRefused(Exception):
    """The server answered a webrtc_offer with an error."""
