"""Real Daphne processes for the room's fault tests, and what they share: start one on the test database
(and Redis), read every message a socket gets in the background, wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from django.conf import settings
from websockets.exceptions import ConnectionClosed

from tests.servers import RoomSocket, Server, free_port

PRESENCE_TTL = 3


def start_daphne(log: Path, *, env: dict | None = None, args: tuple[str, ...] = ()) -> Server:
    """A Daphne serving the project on 127.0.0.1 (a free port), on the test database and REDIS_URL."""
    port = free_port()
    environment = {
        "SPACES_PRESENCE_TTL": str(PRESENCE_TTL),
        "SPACES_MEDIA_IN_PROCESS": "False",
        "REDIS_URL": settings.REDIS_URL,
        **(env or {}),
    }
    argv = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *args, "spaces_site.asgi:application"]
    return Server(argv, log, port=port, env=environment)


class Recorder:
    """Reads everything a RoomSocket receives, in the background, until it closes."""

    def __init__(self, sock: RoomSocket) -> None:
        self.sock = sock
        self.messages: list[dict] = []
        self.arrived: list[float] = []
        self.close_code: int | None = None
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.sock.websocket:
                self.messages.append(json.loads(text))
                self.arrived.append(time.monotonic())
        except ConnectionClosed:
            pass
        self.close_code = self.sock.websocket.close_code

    @property
    def closed(self) -> bool:
        return self.task.done()

    def events(self, name: str) -> list[dict]:
        return [m for m in self.messages if m["event"] == name]

    def deltas(self) -> list[dict]:
        from live import protocol

        return [m for m in self.messages if m["event"] in protocol.DELTAS]

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.sock.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)


async def eventually(condition: Callable[[], Awaitable[bool] | bool], timeout: float, what: str) -> float:
    """Seconds until `condition()` holds (polled every 50 ms); fails after `timeout`."""
    started = time.monotonic()
    while True:
        result = condition()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} (not within {timeout} s)")
        await asyncio.sleep(0.05)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
