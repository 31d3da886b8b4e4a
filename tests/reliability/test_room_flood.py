"""Floods against a real Daphne: many sockets from one account, many anonymous sockets from one address,
and a client that stops reading. The host's controls stay fast and nobody else waits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from websockets.exceptions import ConnectionClosed

from live.events import room_group
from live.protocol import RATE_LIMIT, RATE_WINDOW
from tests.live.daphnes import Recorder, eventually, percentile, start_daphne
from tests.live.roomkit import live_space, put_on_stage
from tests.servers import RoomSocket

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ATTEMPTED = 60  # sockets one account tries to open
ROUNDS = 10  # mute round trips measured, idle and under the flood
MUTE_BOUND = 0.5  # seconds: the slowest mute round trip under the flood (idle: ~30 ms; without the caps: > 5 s)


@pytest.fixture
async def daphne(tmp_path, request):
    env = {"SPACES_MAX_SEND_BUFFER_KB": "256", **getattr(request, "param", {})}
    server = start_daphne(tmp_path / "daphne.log", env=env)
    await asyncio.to_thread(server.wait_listening)
    yield server
    server.kill()
    await database_sync_to_async(connections.close_all)()


async def test_a_flood_from_one_account_leaves_the_hosts_mute_fast(daphne, alice, bob, carol, make_user):
    mallory = await database_sync_to_async(make_user)("mallory")
    space = await database_sync_to_async(live_space)(alice)
    await database_sync_to_async(put_on_stage)(space, bob, muted=False)
    url = daphne.room_socket_url(space.pk)
    host, speaker, observer = [Recorder(await RoomSocket.open(url, user)) for user in (alice, bob, carol)]
    await eventually(lambda: all(r.events("snapshot") for r in (host, speaker, observer)), 10, "snapshots")
    idle = await _mute_round_trips(host, speaker, observer)
    await asyncio.sleep(4)  # the window those rounds count in is over when the flood's rounds start

    # One account opens 60 sockets: a few are let in, the rest refused with an error and 4029.
    attempts = await asyncio.gather(*(_open(url, mallory) for _ in range(ATTEMPTED)))
    flooders = [sock for sock in attempts if isinstance(sock, Recorder)]
    refusals = [reason for reason in attempts if isinstance(reason, tuple)]
    assert 1 <= len(flooders) <= 8 and len(flooders) + len(refusals) == ATTEMPTED
    assert {code for code, _ in refusals} == {4029}
    assert any(reason.startswith("Too many connections from your account") for _, reason in refusals)

    # Every socket it got sends as fast as it can while the host mutes and the speaker unmutes.
    stop = asyncio.Event()
    sent = await asyncio.gather(
        *(_flood(sock, stop) for sock in flooders), _measure(host, speaker, observer, stop), return_exceptions=False
    )
    busy, counts = sent[-1], sent[:-1]
    slowed = sum(len([m for m in s.events("error") if m["reason"].startswith("Slow down")]) for s in flooders)
    print(
        f"\n{ATTEMPTED} sockets tried by one account: {len(flooders)} let in, {len(refusals)} refused (4029); they "
        f"sent {sum(counts)} messages, {slowed} answered 'Slow down'. Host's mute → delta on another socket: idle "
        f"p50 {_ms(percentile(idle, 0.5))} max {_ms(max(idle))}; under the flood p50 {_ms(percentile(busy, 0.5))} "
        f"p95 {_ms(percentile(busy, 0.95))} max {_ms(max(busy))}"
    )
    assert slowed > 0
    assert max(busy) < MUTE_BOUND
    # A socket that ignores "Slow down" and keeps sending as fast as it can is closed.
    for _ in range(RATE_LIMIT * 3 + 1):
        with contextlib.suppress(ConnectionClosed):
            await flooders[0].sock.send(action="snapshot")
    await eventually(lambda: flooders[0].closed, 5, "the tight loop's socket is closed")
    assert flooders[0].close_code == 4029
    for recorder in (host, speaker, observer, *flooders):
        await recorder.stop()


@pytest.mark.parametrize("daphne", [{"SPACES_MAX_SOCKETS_PER_IP": "5"}], indirect=True)
async def test_anonymous_sockets_from_one_address_are_capped(daphne, alice):
    space = await database_sync_to_async(live_space)(alice)
    url = daphne.room_socket_url(space.pk)
    attempts = [await _open(url, None) for _ in range(8)]
    accepted = [sock for sock in attempts if isinstance(sock, Recorder)]
    refusals = [reason for reason in attempts if isinstance(reason, tuple)]
    assert len(accepted) == 5
    assert (
        refusals == [(4029, "Too many connections from your network address: close another tab or window first.")] * 3
    )
    await accepted[0].stop()  # one leaves: one more may come in
    assert isinstance(await _open(url, None), Recorder)
    for recorder in accepted:
        await recorder.stop()


@pytest.mark.redis
async def test_a_client_that_stops_reading_is_dropped_and_the_others_dont_wait(daphne, alice):
    space = await database_sync_to_async(live_space)(alice)
    listener = Recorder(await RoomSocket.open(daphne.room_socket_url(space.pk), alice))
    stuck = await asyncio.to_thread(_open_and_never_read, daphne.port, space.pk)
    await eventually(lambda: listener.events("snapshot"), 10, "the listener's snapshot")
    await asyncio.sleep(1.5)  # both hubs' sockets are in the room
    layer = get_channel_layer()
    levels = {str(i): 0.5 for i in range(1500)}  # ~20 KB of JSON per event
    count = 300
    started = time.monotonic()
    for _ in range(count):
        event = {"type": "room.volatile", "space_id": space.pk, "event": {"event": "speaking", "levels": levels}}
        await layer.group_send(room_group(space.pk), event)
    await eventually(lambda: len(listener.events("speaking")) == count, 30, "every event reaches the listener")
    took = time.monotonic() - started
    dropped = await asyncio.to_thread(_was_dropped, stuck)
    print(f"\n{count} events of 20 KB ({count * 20 // 1000} MB): the reading listener had them all in {took:.1f} s")
    assert dropped
    assert "stopped reading" in daphne.output()
    assert not listener.closed
    await listener.stop()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


async def _open(url: str, user) -> Recorder | tuple[int, str]:
    """A socket let in (with its snapshot), or how it was refused: (close code, the error's reason)."""
    sock = await RoomSocket.open(url, user)
    first = json.loads(await asyncio.wait_for(sock.websocket.recv(), 10))
    if first["event"] == "snapshot":
        recorder = Recorder(sock)
        recorder.messages.append(first)
        return recorder
    with contextlib.suppress(ConnectionClosed):
        await asyncio.wait_for(sock.websocket.recv(), 10)
    return sock.websocket.close_code, first["reason"]


async def _flood(recorder: Recorder, stop: asyncio.Event) -> int:
    """Send at the most one socket may (20 per 5 s) without being closed, as the reported attack did."""
    sent = 0
    actions = ["request_to_speak", "cancel_request", "snapshot"]
    with contextlib.suppress(ConnectionClosed):
        while not stop.is_set():
            await recorder.sock.send(action=actions[sent % len(actions)])
            sent += 1
            await asyncio.sleep(RATE_WINDOW / RATE_LIMIT)
    return sent


async def _measure(host: Recorder, speaker: Recorder, observer: Recorder, stop: asyncio.Event) -> list[float]:
    await asyncio.sleep(1)  # the flood is on, and the host's messages of the idle rounds are 5 s old
    try:
        return await _mute_round_trips(host, speaker, observer)
    finally:
        stop.set()


async def _mute_round_trips(host: Recorder, speaker: Recorder, observer: Recorder) -> list[float]:
    """The host mutes the speaker: seconds until the observer's socket has the delta (ROUNDS times)."""
    times = []
    for _ in range(ROUNDS):
        seen = len(observer.events("speaker_muted"))
        started = time.monotonic()
        await host.sock.send(action="mute", user="bob")
        await eventually(lambda seen=seen: len(observer.events("speaker_muted")) > seen, 5, "the mute arrives")
        arrived = [
            at for m, at in zip(observer.messages, observer.arrived, strict=False) if m["event"] == "speaker_muted"
        ]
        times.append(arrived[-1] - started)
        unmuted = len(observer.events("speaker_unmuted"))
        await speaker.sock.send(action="unmute")
        await eventually(lambda u=unmuted: len(observer.events("speaker_unmuted")) > u, 5, "the unmute arrives")
        await asyncio.sleep(0.5)  # the host's socket may send 20 messages per 5 s
    return times


def _open_and_never_read(port: int, space_id: int) -> socket.socket:
    """A websocket client that completes the handshake and then reads nothing, with a tiny receive buffer."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        f"GET /ws/spaces/{space_id}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(1)  # the handshake only, byte by byte, so nothing after it is read
    assert answer.startswith(b"HTTP/1.1 101")
    return raw


def _was_dropped(raw: socket.socket) -> bool:
    """Read what is left: the server dropped the connection if the stream ends in a reset or EOF."""
    raw.settimeout(10)
    try:
        while raw.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        raw.close()
