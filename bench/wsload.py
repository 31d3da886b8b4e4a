"""The load side of bench/room_fanout.py: a minimal asyncio websocket client (text frames, pong, masking),
the listener worker processes that time every event they receive, and starting and stopping Daphne."""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


# --- a small websocket client ---------------------------------------------------------------------------


class Client(asyncio.Protocol):
    """Just enough RFC 6455 for a listener: handshake, text frames in, masked frames out, pong."""

    __slots__ = ("transport", "buffer", "upgraded", "opened", "closed", "on_text", "request")

    def __init__(self, request: bytes, on_text) -> None:
        self.request = request
        self.buffer = bytearray()
        self.upgraded = False
        self.opened = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.on_text = on_text
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:12])
            del self.buffer[: end + 4]
            if b" 101" not in status:
                self.opened.done() or self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()
                return
            self.upgraded = True
            self.opened.done() or self.opened.set_result(True)
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 1:
                self.on_text(payload)
            elif opcode == 9:
                self.send(payload, opcode=10)
            elif opcode == 8:
                self.transport.close()

    def connection_lost(self, exc) -> None:
        self.opened.done() or self.opened.set_exception(ConnectionError("closed before upgrade"))
        self.closed.done() or self.closed.set_result(True)

    def send(self, payload: bytes, opcode: int = 1) -> None:
        mask = secrets.token_bytes(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        else:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(header + mask + masked)


def _request(port: int, path: str, cookie: str = "") -> bytes:
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://127.0.0.1:{port}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def open_client(port: int, path: str, on_text, cookie: str = "", timeout: float = 30.0) -> Client:
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: Client(_request(port, path, cookie), on_text), "127.0.0.1", port), timeout
    )
    await asyncio.wait_for(client.opened, timeout)
    return client


# --- listener workers (separate processes) -----------------------------------------------------------------


def event_key(mode: str, text: bytes) -> int | None:
    """The number of a timed event in a frame, or None for anything else (snapshot, presence, ...)."""
    if mode == "spaces":
        if b'"speaker_' not in text and b'"chat_message"' not in text:
            return None
        return json.loads(text)["seq"]
    if b'"message"' not in text:
        return None
    return json.loads(text)["i"]


def worker(mode: str, ports: list[int], path: str, count: int, offset: int, ready, start_event, stop_event, results):
    raise_nofile()

    async def main():
        received: dict[int, list[float]] = {}
        connect_times: list[float] = []
        failed = 0
        limit = asyncio.Semaphore(64)  # handshakes in flight per worker
        clients = []

        def make_on_text():
            def on_text(text: bytes, now=time.time):
                key = event_key(mode, text)
                if key is not None:
                    received.setdefault(key, []).append(now())

            return on_text

        async def one(index: int):
            nonlocal failed
            port = ports[(offset + index) % len(ports)]
            async with limit:
                started = time.monotonic()
                try:
                    client = await open_client(port, path, make_on_text())
                except (OSError, TimeoutError):  # refused, reset or too slow: never connected
                    failed += 1
                    return
                connect_times.append(time.monotonic() - started)
                clients.append(client)

        await asyncio.gather(*(one(i) for i in range(count)))
        ready.put((len(clients), failed))
        while not start_event.is_set():
            await asyncio.sleep(0.05)
        while not stop_event.is_set():
            await asyncio.sleep(0.05)
        results.put({"received": received, "connect_times": connect_times, "failed": failed})
        for client in clients:
            client.transport.close()
        await asyncio.sleep(0.2)

    asyncio.run(main())


# --- servers ------------------------------------------------------------------------------------------------


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daphne(app: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
