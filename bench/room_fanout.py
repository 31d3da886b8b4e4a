"""Room fan-out benchmark: N websocket listeners in one room, the host acts, every event timed to all N.

    .venv/bin/python bench/room_fanout.py                       # N = 1000, 2000, 5000, both patterns
    .venv/bin/python bench/room_fanout.py -n 1000 --processes 2 --events 20
    .venv/bin/python bench/room_fanout.py -n 1000 -n 5000 --chat    # with a busy chat, both patterns

For each N it starts Daphne with the channels-redis layer (REDIS_URL, default redis://127.0.0.1:6379/14,
flushed first: use an index nobody else uses) on a throw-away SQLite database, connects N anonymous
listeners spread over the Daphne processes, and has the host (logged in) unmute and mute in turn. Each
action is a delta every listener must receive. It reports, per N: connect time, p50/p99 latency from the
host's send to each listener's receipt, events lost, sockets that never connected, and server memory per
connection (RSS growth of the Daphne processes over the connects).

In the same run it measures the Channels tutorial pattern (one consumer per socket, group_add on connect,
group_send per event, json.dumps per socket; one Daphne process) as the baseline, and prints the ratio.

With --chat, 10 logged-in people chat meanwhile, in turn, so that the room gets a message every 200 ms
(each person one every 2 s): every chat message is timed to all N too, and the host's deltas queue behind
them. The baseline gets the same load (10 more clients sending to its group). The listeners all come from
127.0.0.1 and stand for N people, so the per-address socket caps (live/guard.py) are turned off.

The load generator is a minimal asyncio websocket client (text frames, pong, masking) in a few worker
processes (bench/wsload.py), so it leaves as much of the machine as it can to the server; both patterns
use it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsload import event_key, open_client, raise_nofile, rss_kib, start_daphne, stop, worker  # noqa: E402

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


# --- one run -------------------------------------------------------------------------------------------------


def prepare_database(env: dict, chatters: int = 0) -> tuple[int, str, list[str]]:
    """A live Space with a logged-in host (and `chatters` more people), in the throw-away database.
    Returns (space id, host's cookie, chatters' cookies)."""
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
cookies = []
for i in range(CHATTERS):
    person = User.objects.create_user(handle=f"chatter{i}", email=f"chatter{i}@example.com", password="x" * 12)
    other = Client()
    other.force_login(person)
    cookies.append(f"{name}={other.cookies[name].value}")
print(json.dumps({"space": space.pk, "cookie": f"{name}={client.cookies[name].value}", "chatters": cookies}))
""".replace("CHATTERS", str(chatters))
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True
    ).stdout
    data = json.loads(output.strip().splitlines()[-1])
    return data["space"], data["cookie"], data["chatters"]


def _fresh_postgres(database_url: str) -> None:
    """Drop and create the bench's own PostgreSQL database (named in the URL) so each run starts empty."""
    import psycopg

    name = urllib.parse.urlparse(database_url).path.lstrip("/")
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def run(
    mode: str,
    n: int,
    processes: int,
    events: int,
    interval: float,
    workers: int,
    redis_url: str,
    database_url: str,
    chatters: int = 0,
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
        "SPACES_CHAT_MESSAGES_PER_WINDOW": "0",  # time the fan-out, not the per-person chat limit
        # N listeners on one loopback address stand for N people on N addresses: no per-address caps.
        "SPACES_MAX_SOCKETS_PER_IP": "0",
        "SPACES_MESSAGES_PER_USER": "0",
    }
    chat_cookies: list[str] = []
    if mode == "spaces":
        space_id, cookie, chat_cookies = prepare_database(env, chatters)
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
        sent = asyncio.run(host_actions(mode, ports, path, cookie, events, interval, chat_cookies or [""] * chatters))
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
        "mode": mode + ("+chat" if chatters else ""),
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


async def host_actions(
    mode: str, ports: list[int], path: str, cookie: str, events: int, interval: float, chatters: list[str]
) -> dict[int, float]:
    """Send `events` actions (and, with chatters, chat meanwhile); returns event key -> wall-clock send time."""
    port = ports[0]
    sent: dict[int, float] = {}
    pending: dict[str, float] = {}
    arrived: asyncio.Queue = asyncio.Queue()

    def on_text(text: bytes):
        if b'"chat_message"' in text:
            return  # chat is timed by its senders (chat_load)
        key = event_key(mode, text)
        if key is not None:
            arrived.put_nowait(key)

    client = await open_client(port, path, on_text, cookie)
    stop_chat = asyncio.Event()
    chat = asyncio.create_task(chat_load(mode, ports, path, chatters, sent, stop_chat)) if chatters else None
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
    stop_chat.set()
    if chat is not None:
        await chat
    await asyncio.sleep(0.1)
    client.transport.close()
    return sent


CHAT_EVERY = 0.2  # seconds between chat messages in the room (10 people: one each every 2 s)
CHAT_KEY_BASE = 1_000_000  # the baseline's chat messages are numbered apart from the host's


async def chat_load(
    mode: str, ports: list[int], path: str, cookies: list[str], sent: dict[int, float], stop: asyncio.Event
) -> None:
    """Chatters take turns, one message every CHAT_EVERY seconds; each message's send time goes into `sent`
    under the key listeners see (Spaces: its seq, read back from the sender's own socket)."""
    texts: dict[str, float] = {}

    def make_on_text():
        def on_text(text: bytes):
            if mode == "spaces" and b'"chat_message"' in text:
                message = json.loads(text)
                if message["text"] in texts:
                    sent[message["seq"]] = texts[message["text"]]

        return on_text

    clients = [
        await open_client(ports[i % len(ports)], path, make_on_text(), cookie) for i, cookie in enumerate(cookies)
    ]
    await asyncio.sleep(0.5)
    number = 0
    while not stop.is_set():
        client = clients[number % len(clients)]
        now = time.time()
        if mode == "spaces":
            text = f"chat {number}: how is everyone doing tonight?"
            texts[text] = now
            client.send(json.dumps({"action": "chat", "text": text}).encode())
        else:
            sent[CHAT_KEY_BASE + number] = now
            client.send(json.dumps({"i": CHAT_KEY_BASE + number, "text": "how is everyone doing?"}).encode())
        number += 1
        await asyncio.sleep(CHAT_EVERY)
    await asyncio.sleep(1.0)  # the last messages' own echoes
    for client in clients:
        client.transport.close()


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
    parser.add_argument("--chat", action="store_true", help="10 people chat meanwhile: a message every 200 ms")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="PostgreSQL URL of a throw-away database (dropped and created each run), as in production; "
        "default: a throw-away SQLite file",
    )
    args = parser.parse_args()
    raise_nofile()
    sizes = args.n or [1000, 2000, 5000]
    modes = [args.only] if args.only else ["spaces", "baseline"]
    rows = []
    print(HEADER, flush=True)
    for n in sizes:
        by_mode = {}
        for mode in modes:
            result = run(
                mode,
                n,
                args.processes,
                args.events,
                args.interval,
                args.workers,
                args.redis,
                args.database,
                10 if args.chat else 0,
            )
            by_mode[mode] = result
            rows.append(result)
            print(_row(result), flush=True)
        if len(by_mode) == 2 and by_mode["spaces"]["p99_ms"] > 0 and by_mode["baseline"]["p99_ms"] > 0:
            ratio = by_mode["baseline"]["p99_ms"] / by_mode["spaces"]["p99_ms"]
            print(f"|          | {n:>5} | baseline p99 / Spaces p99 = {ratio:.1f}x |", flush=True)
    print()
    print("p50/p99: host's send -> each listener's receipt; lost: events x N not received within 3 s of the last;")
    print("never: sockets that failed to connect (30 s timeout); mem/conn: Daphne RSS growth / connected sockets.")
    print(json.dumps(rows, default=float))


if __name__ == "__main__":
    main()
