"""/spaces/<id>/listen.ogg: the live mix as a plain HTTP Ogg Opus stream, through the site's ASGI application
(embedded default: the engine in this process): it decodes to what the room says, the listener counts in
presence, and the room's entry rules hold (tickets)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async

from live import presence
from recordings import ogg
from rooms.models import Participant, Space
from spaces_site.asgi import application
from tests.live.roomkit import join, live_space, put_on_stage, receive_event, session_cookie
from tests.media.peers import ClientPeer
from tests.recordings.audio_checks import decode, spectrum_peaks, tone_amplitude

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class HttpStream:
    """A GET through the ASGI application, read as it streams, disconnected on demand."""

    def __init__(self, path: str, cookie: str = "") -> None:
        self.path, self.cookie = path, cookie
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.started = asyncio.Event()
        self._disconnect = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def open(self) -> HttpStream:
        headers = [(b"host", b"testserver")]
        if self.cookie:
            headers.append((b"cookie", self.cookie.encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": self.path, "raw_path": self.path.encode(), "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}  # fmt: skip
        sent_request = False

        async def receive() -> dict:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self._disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
                self.started.set()
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"")

        self.task = asyncio.ensure_future(application(scope, receive, send))
        await asyncio.wait_for(self.started.wait(), 10)
        return self

    async def close(self) -> None:
        self._disconnect.set()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self.task.cancel()


async def offer_over_socket(socket, peer: ClientPeer) -> None:
    async def negotiate(sdp: str, sdp_type: str) -> dict:
        await socket.send_to(text_data=json.dumps({"action": "webrtc_offer", "sdp": sdp, "type": sdp_type}))
        answer = await receive_event(socket, "webrtc_answer", timeout=10)
        return {"sdp": answer["sdp"], "type": answer["type"]}

    await peer.connect(negotiate)


async def test_a_plain_http_listener_hears_the_room_and_counts_in_presence(in_process_media, alice):
    def arrange() -> Space:
        space = live_space(alice)
        put_on_stage(space, alice, Participant.Role.HOST, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    host_socket, _ = await join(space.pk, alice)
    host = ClientPeer(440.0)
    listener = None
    try:
        await offer_over_socket(host_socket, host)
        listener = await HttpStream(f"/spaces/{space.pk}/listen.ogg").open()
        assert listener.status == 200, (listener.status, bytes(listener.body)[:300])
        assert listener.headers["content-type"] == "audio/ogg"
        assert (
            listener.headers["cache-control"].startswith("no-store") or "no-cache" in listener.headers["cache-control"]
        )
        await asyncio.sleep(4.0)
        counted = await presence.backend().total(space.pk)
        assert counted >= 1
        await listener.close()
        data = bytes(listener.body)
    finally:
        await host.close()
        await host_socket.disconnect()
        if listener is not None:
            await listener.close()

    pages = list(ogg.read_pages(data))
    assert pages[0].packets[0].startswith(b"OpusHead") and pages[0].sequence == 0
    assert [page.sequence for page in pages] == list(range(len(pages)))  # numbered from this listener's start
    pcm, _ = decode(data)
    assert len(pcm) / 48000 > 2.5
    heard = pcm[-96000:]  # the last two seconds
    assert tone_amplitude(heard, 440.0) > 1500, spectrum_peaks(heard)


async def test_the_stream_follows_the_rooms_entry_rules(in_process_media, alice, bob):
    def arrange() -> Space:
        space = live_space(alice)
        space.is_ticketed = True
        space.save(update_fields=["is_ticketed"])
        return space

    space = await database_sync_to_async(arrange)()
    cookie = await database_sync_to_async(session_cookie)(bob)
    refused = await HttpStream(f"/spaces/{space.pk}/listen.ogg", cookie).open()
    await refused.close()
    assert refused.status == 403 and b"ticket" in bytes(refused.body)

    host_cookie = await database_sync_to_async(session_cookie)(alice)
    allowed = await HttpStream(f"/spaces/{space.pk}/listen.ogg", host_cookie).open()
    started = time.monotonic()
    while len(allowed.body) < 200 and time.monotonic() - started < 5:
        await asyncio.sleep(0.2)  # no engine hosts the room yet: silence keeps the player going
    await allowed.close()
    assert allowed.status == 200 and sum(1 for _ in ogg.read_packets(bytes(allowed.body))) >= 10

    missing = await HttpStream("/spaces/999999/listen.ogg").open()
    await missing.close()
    assert missing.status == 404


async def test_the_stream_ends_when_the_space_ends(in_process_media, alice):
    from rooms import services

    space = await database_sync_to_async(live_space)(alice)
    listener = await HttpStream(f"/spaces/{space.pk}/listen.ogg").open()
    assert listener.status == 200
    await database_sync_to_async(services.end_space)(space, alice)
    await asyncio.wait_for(listener.task, 10)  # the entry rules are checked again every few seconds
    assert bytes(listener.body).startswith(b"OggS")
    await listener.close()
