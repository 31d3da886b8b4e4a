"""Writing ready-made websocket frames to Daphne's transport (live/daphne_compat.py).

The check passes on the pinned Daphne and channels and names what changed otherwise; importing the
module with another Daphne refuses; a real Daphne delivers the frames a writer writes, with or without
channels' session middleware in between.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import subprocess
import sys

import pytest
from channels.sessions import InstanceSessionWrapper, SessionMiddlewareStack
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings

from live import daphne_compat


def text_frame(text: str) -> bytes:
    """A short unmasked websocket text frame, as a server sends it (RFC 6455 5.2)."""
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


async def echo(scope, receive, send) -> None:
    """Echoes each message as a frame written with frame_writer (or says it has no writer)."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    write = daphne_compat.frame_writer(send)
    while (message := await receive())["type"] == "websocket.receive":
        if write is None:
            await send({"type": "websocket.send", "text": "no writer for this send"})
        else:
            write(text_frame(f"echo: {message['text']}"))


echo_in_session_middleware = SessionMiddlewareStack(echo)


async def application(scope, receive, send) -> None:
    """What the real Daphne below serves: the echo, bare or inside channels' session middleware (as
    the room's consumer is, in AuthMiddlewareStack)."""
    if scope["path"] == "/session/":
        await echo_in_session_middleware(scope, receive, send)
    else:
        await echo(scope, receive, send)


def installed(monkeypatch, **versions: str) -> None:
    real = importlib.metadata.version
    monkeypatch.setattr(daphne_compat, "installed_version", lambda name: versions.get(name) or real(name))


def test_the_check_passes_on_the_pinned_daphne_and_channels():
    assert daphne_compat.check() == []
    daphne_compat.verify()


def test_another_daphne_is_refused_even_when_nothing_it_uses_is_missing(monkeypatch):
    installed(monkeypatch, daphne="4.3.0")
    assert daphne_compat.check() == [
        "Daphne 4.3.0 is not a version the websocket fast path was checked against; it supports 4.2 "
        "(read what live/daphne_compat.py relies on against 4.3.0, then change SUPPORTED there)"
    ]


def test_another_channels_is_refused_too(monkeypatch):
    installed(monkeypatch, channels="4.4.0")
    assert daphne_compat.check() == [
        "channels 4.4.0 is not a version the websocket fast path was checked against; it supports 4.3 "
        "(read what live/daphne_compat.py relies on against 4.4.0, then change SUPPORTED there)"
    ]


def test_patch_releases_of_the_supported_versions_pass(monkeypatch):
    installed(monkeypatch, daphne="4.2.9", channels="4.3.0")
    assert daphne_compat.check() == []


def test_a_daphne_without_state_open_is_named(monkeypatch):
    installed(monkeypatch, daphne="4.3.0")
    monkeypatch.setattr(WebSocketProtocol, "STATE_OPEN", None)  # as if Autobahn had renamed its states
    assert daphne_compat.check() == [
        "Daphne 4.3.0 changed WebSocketProtocol.STATE_OPEN; the websocket fast path supports 4.2"
    ]


def test_a_daphne_that_wraps_its_send_differently_is_named(monkeypatch):
    import daphne.server

    def wrapped(function, *bound):
        async def send(message):
            await function(*bound, message)

        return send

    installed(monkeypatch, daphne="4.2.3")
    monkeypatch.setattr(daphne.server, "partial", wrapped)
    assert daphne_compat.check() == [
        "Daphne 4.2.3 changed Server.create_application (send is no longer partial(handle_reply, protocol)); "
        "the websocket fast path supports 4.2"
    ]


def test_a_channels_that_keeps_the_inner_send_elsewhere_is_named(monkeypatch):
    original_init = InstanceSessionWrapper.__init__

    def init(self, scope, send) -> None:  # as if a release renamed real_send
        original_init(self, scope, send)
        self.inner_send = self.__dict__.pop("real_send")

    async def send(self, message):
        return await self.inner_send(message)

    installed(monkeypatch, channels="4.4.0")
    monkeypatch.setattr(InstanceSessionWrapper, "__init__", init)
    monkeypatch.setattr(InstanceSessionWrapper, "send", send)
    assert daphne_compat.check() == [
        "channels 4.4.0 changed InstanceSessionWrapper.real_send; the websocket fast path supports 4.3"
    ]


async def test_any_other_send_gets_no_writer():
    async def send(message) -> None: ...

    assert daphne_compat.frame_writer(send) is None
    assert daphne_compat.frame_writer(lambda message: None) is None
    assert daphne_compat.frame_writer(functools.partial(send)) is None
    # channels' session middleware around something that is not Daphne: still not Daphne's.
    assert daphne_compat.frame_writer(InstanceSessionWrapper({"type": "websocket", "session": None}, send).send) is None
    assert daphne_compat.daphne_protocol(functools.partial(Server.handle_reply, object(), object())) is None


@pytest.mark.parametrize("path", ["/", "/session/"], ids=["bare", "in-session-middleware"])
async def test_a_real_daphne_delivers_what_the_writer_writes(tmp_path, path):
    from websockets.asyncio.client import connect

    from tests.servers import Server as ServerProcess
    from tests.servers import free_port

    port = free_port()
    args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.live.test_daphne_compat:application"]
    daphne = ServerProcess(args, tmp_path / "daphne.log", port=port)
    try:
        daphne.wait_listening()
        async with connect(f"ws://127.0.0.1:{port}{path}") as websocket:
            for text in ("hello", "ünïcode ✓"):
                await websocket.send(text)
                assert await websocket.recv() == f"echo: {text}"
    finally:
        daphne.kill()


def test_importing_it_with_another_daphne_refuses():
    code = (
        "import importlib.metadata\n"
        "real = importlib.metadata.version\n"
        "importlib.metadata.version = lambda name: '4.3.0' if name == 'daphne' else real(name)\n"
        "import live.daphne_compat\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "spaces_site.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "IncompatibleDaphne: The websocket fast path cannot run: Daphne 4.3.0 is not a version" in result.stderr


@pytest.fixture(autouse=True)
def _no_reactor_timers():
    # The check builds a Daphne protocol without a handshake timeout: it must leave Twisted nothing to run.
    from twisted.internet import reactor

    before = list(reactor.getDelayedCalls())
    yield
    assert list(reactor.getDelayedCalls()) == before
