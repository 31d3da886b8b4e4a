"""Room fan-out benchmark: N websocket listeners in one room, the host acts, every event timed to all N.

    .venv/bin/python bench/room_fanout.py                       # N = 1000, 2000, 5000, both patterns
    .venv/bin/python bench/room_fanout.py -n 1000 --processes 2 --events 20

For each N it starts Daphne with the channels-redis layer (REDIS_URL, default redis://127.0.0.1:6379/14,
flushed first: use an index nobody else uses) on a throw-away SQLite database, connects N anonymous
listeners spread over the Daphne processes, and has the host (logged in) unmute and mute in turn. Each
action is a delta every listener must receive. It reports, per N: connect time, p50/p99 latency from the
host's send to each listener's receipt, events lost, sockets that never connected, and server memory per
connection (RSS growth of the Daphne processes over the connects).

In the same run it measures the Channels tutorial pattern (one consumer per socket, group_add on connect,
group_send per event, json.dumps per socket; one Daphne process) as the baseline, and prints the ratio.

The load generator is a minimal asyncio websocket client (text frames, pong, masking) in a few worker
processes, so it leaves as much of the machine as it can to the server; both patterns use it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import resource
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"


# --- the baseline: the Channels tutorial's chat consumer, as an ASGI app Daphne can serve -------------


def _baseline_application():
    import django

    django.setup()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    class TutorialConsumer(AsyncWebsocketConsumer):
        async def connect(self):
            self.group = f"tutorial-{self.scope['url_route']['kwargs']['room']}"
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def receive(self, text_data=None, bytes_data=None):
            message = json.loads(text_data)
            await self.channel_layer.group_send(self.group, {"type": "room.message", "message": message})

        async def room_message(self, event):
            await self.send(text_data=json.dumps({"event": "message", **event["message"]}))

    return ProtocolTypeRouter({"websocket": URLRouter([path("ws/tutorial/<str:room>/", TutorialConsumer.as_asgi())])})


if os.environ.get("ROOM_FANOUT_SERVE") == "baseline":
    baseline_application = _baseline_application()


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


def _event_key(mode: str, text: bytes) -> int | None:
    """The number of a timed event in a frame, or None for anything else (snapshot, presence, ...)."""
    if mode == "spaces":
        if b'"speaker_' not in text:
            return None
        return json.loads(text)["seq"]
    if b'"message"' not in text:
        return None
    return json.loads(text)["i"]


def worker(mode: str, ports: list[int], path: str, count: int, offset: int, ready, start_event, stop_event, results):
    _raise_nofile()

    async def main():
        received: dict[int, list[float]] = {}
        connect_times: list[float] = []
        failed = 0
        limit = asyncio.Semaphore(64)  # handshakes in flight per worker
        clients = []

        def make_on_text():
            def on_text(text: bytes, now=time.time):
                key = _event_key(mode, text)
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


def _raise_nofile() -> None:
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


# --- one run -------------------------------------------------------------------------------------------------


def prepare_database(env: dict) -> tuple[int, str]:
    """A live Space with a logged-in host, in the throw-away database. Returns (space id, cookie)."""
    code = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.conf import settings
from django.test import Client
from accounts.models import User
from rooms import services
host = User.objects.create_user(handle="benchhost", email="host@example.com", password="x" * 12)
from allauth.account.models import EmailAddress
EmailAddress.objects.create(user=host, email=host.email, verified=True, primary=True)
space = services.create_space(host, title="Fan-out bench", start_now=True)
client = Client()
client.force_login(host)
name = settings.SESSION_COOKIE_NAME
print(json.dumps({"space": space.pk, "cookie": f"{name}={client.cookies[name].value}"}))
"""
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True
    ).stdout
    data = json.loads(output.strip().splitlines()[-1])
    return data["space"], data["cookie"]


def _fresh_postgres(database_url: str) -> None:
    """Drop and create the bench's own PostgreSQL database (named in the URL) so each run starts empty."""
    import psycopg

    name = urllib.parse.urlparse(database_url).path.lstrip("/")
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def run(
    mode: str, n: int, processes: int, events: int, interval: float, workers: int, redis_url: str, database_url: str
) -> dict:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    if database_url:
        _fresh_postgres(database_url)
    tmp = tempfile.mkdtemp(prefix="room-fanout-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_site.settings",
        "REDIS_URL": redis_url,
        "SQLITE_PATH": f"{tmp}/bench.sqlite3",
        "SPACES_VAR_DIR": tmp,
        "DATABASE_URL": database_url,
        "DEBUG": "True",
        "LOG_LEVEL": "WARNING",
        "SPACES_MEDIA_IN_PROCESS": "False",
        "CELERY_TASK_ALWAYS_EAGER": "True",
        "PYTHONPATH": str(BASE_DIR),
    }
    if mode == "spaces":
        space_id, cookie = prepare_database(env)
        path = f"/ws/spaces/{space_id}/"
        servers = [start_daphne("spaces_site.asgi:application", env) for _ in range(processes)]
    else:
        space_id, cookie, path = 0, "", "/ws/tutorial/bench/"
        servers = [start_daphne("bench.room_fanout:baseline_application", {**env, "ROOM_FANOUT_SERVE": "baseline"})]
    pids = [p.pid for p, _ in servers]
    ports = [port for _, port in servers]
    try:
        time.sleep(1.0)
        rss_before = sum(rss_kib(pid) for pid in pids)
        ctx = mp.get_context("fork")
        ready, results = ctx.Queue(), ctx.Queue()
        start_event, stop_event = ctx.Event(), ctx.Event()
        shares = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
        offsets = [sum(shares[:i]) for i in range(workers)]
        connect_started = time.monotonic()
        children = [
            ctx.Process(
                target=worker,
                args=(mode, ports, path, shares[i], offsets[i], ready, start_event, stop_event, results),
            )
            for i in range(workers)
        ]
        for child in children:
            child.start()
        connected = failed = 0
        for _ in children:
            ok, bad = ready.get(timeout=600)
            connected, failed = connected + ok, failed + bad
        connect_wall = time.monotonic() - connect_started
        time.sleep(2.5)  # let joins settle (presence ticks) before timing events
        rss_after = sum(rss_kib(pid) for pid in pids)
        sent = asyncio.run(host_actions(mode, ports[0], path, cookie, events, interval))
        start_event.set()
        time.sleep(3.0)
        stop_event.set()
        reports = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join(30)
    finally:
        stop([p for p, _ in servers])

    latencies: list[float] = []
    delivered = 0
    per_event: dict[int, list[float]] = {}
    for report in reports:
        for key, times in report["received"].items():
            if key in sent:
                delivered += len(times)
                per_event.setdefault(key, []).extend(t - sent[key] for t in times)
                latencies.extend(t - sent[key] for t in times)
    if os.environ.get("BENCH_VERBOSE"):
        for key in sorted(per_event):
            values = sorted(per_event[key])
            print(
                f"  event {key}: first {values[0] * 1000:.0f} ms, p50 {_pct(values, 50) * 1000:.0f} ms, "
                f"last {values[-1] * 1000:.0f} ms",
                file=sys.stderr,
            )
    connect_times = sorted(t for report in reports for t in report["connect_times"])
    expected = len(sent) * n
    latencies.sort()
    return {
        "mode": mode,
        "n": n,
        "processes": len(pids),
        "events": len(sent),
        "connected": connected,
        "never_connected": failed,
        "connect_wall_s": connect_wall,
        "connect_p50_ms": _pct(connect_times, 50) * 1000,
        "connect_p99_ms": _pct(connect_times, 99) * 1000,
        "p50_ms": _pct(latencies, 50) * 1000,
        "p99_ms": _pct(latencies, 99) * 1000,
        "lost_pct": 100.0 * (expected - delivered) / expected if expected else 0.0,
        "kib_per_conn": (rss_after - rss_before) / max(connected, 1),
    }


async def host_actions(mode: str, port: int, path: str, cookie: str, events: int, interval: float) -> dict[int, float]:
    """Send `events` actions; returns event key -> wall-clock send time."""
    sent: dict[int, float] = {}
    pending: dict[str, float] = {}
    arrived: asyncio.Queue = asyncio.Queue()

    def on_text(text: bytes):
        key = _event_key(mode, text)
        if key is not None:
            arrived.put_nowait(key)

    client = await open_client(port, path, on_text, cookie)
    await asyncio.sleep(0.5)
    for i in range(events):
        if mode == "spaces":
            action = "unmute" if i % 2 == 0 else "mute"
            pending["t"] = time.time()
            client.send(json.dumps({"action": action}).encode())
            try:
                key = await asyncio.wait_for(arrived.get(), 10)
            except TimeoutError:
                continue
            sent[key] = pending["t"]
        else:
            sent[i] = time.time()
            client.send(json.dumps({"i": i}).encode())
        await asyncio.sleep(interval)
    await asyncio.sleep(0.1)
    client.transport.close()
    return sent


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))
    return values[index]


def _row(r: dict) -> str:
    return (
        f"| {r['mode']:<8} | {r['n']:>5} | {r['processes']:>2} | {r['connected']:>5} | {r['never_connected']:>5} "
        f"| {r['connect_wall_s']:>6.1f} s | {r['connect_p99_ms']:>7.0f} ms | {r['p50_ms']:>7.1f} ms "
        f"| {r['p99_ms']:>7.1f} ms | {r['lost_pct']:>6.2f} % | {r['kib_per_conn']:>6.1f} KiB |"
    )


HEADER = (
    "| pattern  |     N | pr | conn. | never |  all in  | conn p99  |   p50     |   p99     |   lost   | mem/conn   |\n"
    "|----------|------:|---:|------:|------:|---------:|----------:|----------:|----------:|---------:|-----------:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, action="append", help="listeners (repeatable); default 1000 2000 5000")
    parser.add_argument("--processes", type=int, default=2, help="Daphne processes for Spaces (baseline: 1)")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between host actions")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--only", choices=["spaces", "baseline"], help="run one pattern")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="PostgreSQL URL of a throw-away database (dropped and created each run), as in production; "
        "default: a throw-away SQLite file",
    )
    args = parser.parse_args()
    _raise_nofile()
    sizes = args.n or [1000, 2000, 5000]
    modes = [args.only] if args.only else ["spaces", "baseline"]
    rows = []
    print(HEADER, flush=True)
    for n in sizes:
        by_mode = {}
        for mode in modes:
            result = run(mode, n, args.processes, args.events, args.interval, args.workers, args.redis, args.database)
            by_mode[mode] = result
            rows.append(result)
            print(_row(result), flush=True)
        if len(by_mode) == 2 and by_mode["spaces"]["p99_ms"] > 0:
            ratio = by_mode["baseline"]["p99_ms"] / by_mode["spaces"]["p99_ms"]
            print(f"|          | {n:>5} | baseline p99 / Spaces p99 = {ratio:.1f}x |", flush=True)
    print()
    print("p50/p99: host's send -> each listener's receipt; lost: events x N not received within 3 s of the last;")
    print("never: sockets that failed to connect (30 s timeout); mem/conn: Daphne RSS growth / connected sockets.")
    print(json.dumps(rows, default=float))


if __name__ == "__main__":
    main()
