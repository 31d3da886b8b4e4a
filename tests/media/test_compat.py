"""The adapters over aiortc, aioice, pylibsrtp and asyncio internals (media/compat/).

Each check passes on the pinned versions, and names what changed when a version differs or an
attribute the fast path relies on is gone; Daphne and runmedia refuse to start with that message.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pylibsrtp
import pytest
from aioice import Connection
from aiortc import RTCDtlsTransport, RTCRtpSender
from django.conf import settings

from media import compat
from media.compat import aioice as aioice_compat
from media.compat import aiortc as aiortc_compat
from media.compat import asyncio as asyncio_compat
from media.compat import pylibsrtp as srtp_compat
from media.engine import MediaEngine
from tests.media.conftest import StubPolicy
from tests.media.peers import ClientPeer, tone_amplitude
from tests.servers import free_port

ADAPTERS = [aiortc_compat, aioice_compat, srtp_compat, asyncio_compat]


def installed(monkeypatch, adapter, version: str) -> None:
    monkeypatch.setattr(adapter, "installed_version", lambda: version)


def without_attribute(monkeypatch, cls: type, attribute: str) -> None:
    """Instances of cls no longer get `attribute` in __init__, as if a release had renamed it."""
    original = cls.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        delattr(self, attribute)

    monkeypatch.setattr(cls, "__init__", init)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
def test_each_adapter_passes_on_the_pinned_version(adapter):
    assert adapter.check() == []


def test_startup_verification_passes_on_the_pinned_versions():
    compat.verify()


@pytest.mark.parametrize(
    ("adapter", "library", "version", "supported"),
    [
        (aiortc_compat, "aiortc", "1.17.0", "1.16"),
        (aioice_compat, "aioice", "0.14.0", "0.13"),
        (srtp_compat, "pylibsrtp", "1.1.0", "1.0"),
        (asyncio_compat, "Python", "3.13.1", "3.11"),
    ],
    ids=["aiortc", "aioice", "pylibsrtp", "asyncio"],
)
def test_another_version_is_refused_even_when_nothing_it_uses_is_missing(
    monkeypatch, adapter, library, version, supported
):
    installed(monkeypatch, adapter, version)
    path = "media/compat/" + ("asyncio" if library == "Python" else library) + ".py"
    assert adapter.check() == [
        f"{library} {version} is not a version the fast path was checked against; it supports {supported} "
        f"(read what {path} uses against {version}, then change SUPPORTED there)"
    ]


@pytest.mark.parametrize("version", ["1.16", "1.16.0", "1.16.7"])
def test_releases_of_the_supported_minor_version_pass(monkeypatch, version):
    installed(monkeypatch, aiortc_compat, version)
    assert aiortc_compat.check() == []


def test_a_newer_aiortc_without_rx_srtp_is_named(monkeypatch):
    installed(monkeypatch, aiortc_compat, "1.17.0")
    without_attribute(monkeypatch, RTCDtlsTransport, "_rx_srtp")
    assert aiortc_compat.check() == ["aiortc 1.17.0 changed RTCDtlsTransport._rx_srtp; the fast path supports 1.16"]


def test_a_class_private_sender_attribute_is_named_as_aiortc_spells_it(monkeypatch):
    installed(monkeypatch, aiortc_compat, "1.16.0")  # even on the supported version
    without_attribute(monkeypatch, RTCRtpSender, "_RTCRtpSender__mid")
    without_attribute(monkeypatch, RTCRtpSender, "_RTCRtpSender__rtcp_exited")
    assert aiortc_compat.check() == [
        "aiortc 1.16.0 changed RTCRtpSender.__mid, RTCRtpSender.__rtcp_exited; the fast path supports 1.16"
    ]


def test_an_aioice_without_nominated_is_named(monkeypatch):
    installed(monkeypatch, aioice_compat, "0.14.0")
    without_attribute(monkeypatch, Connection, "_nominated")
    assert aioice_compat.check() == ["aioice 0.14.0 changed Connection._nominated; the fast path supports 0.13"]


def test_a_pylibsrtp_session_without_its_context_is_named(monkeypatch):
    installed(monkeypatch, srtp_compat, "1.1.0")
    without_attribute(monkeypatch, pylibsrtp.Session, "_srtp")
    assert srtp_compat.check() == ["pylibsrtp 1.1.0 changed Session._srtp; the fast path supports 1.0"]


def test_a_pylibsrtp_binding_without_protect_rtcp_is_named(monkeypatch):
    class Binding:
        srtp_protect = staticmethod(srtp_compat.protect_rtp)

    monkeypatch.setattr(srtp_compat, "lib", Binding())
    installed(monkeypatch, srtp_compat, "1.0.0")
    assert srtp_compat.check() == [
        "pylibsrtp 1.0.0 changed pylibsrtp._binding.lib.srtp_protect_rtcp; the fast path supports 1.0"
    ]


class OpaqueTransport(asyncio.DatagramTransport):
    """A datagram transport that keeps its socket to itself, as another event loop's (or a later
    asyncio's) would: only the public API."""

    def __init__(self, inner: asyncio.DatagramTransport) -> None:
        super().__init__()
        self.inner = inner

    def get_extra_info(self, name, default=None):
        return self.inner.get_extra_info(name, default)

    def sendto(self, data, addr=None) -> None:
        self.inner.sendto(data, addr)

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def close(self) -> None:
        self.inner.close()


class OpaqueLoop(asyncio.SelectorEventLoop):
    async def create_datagram_endpoint(self, *args, **kwargs):
        transport, protocol = await super().create_datagram_endpoint(*args, **kwargs)
        return OpaqueTransport(transport), protocol


def test_an_event_loop_whose_transports_hide_their_socket_is_named(monkeypatch):
    installed(monkeypatch, asyncio_compat, "3.13.1")
    monkeypatch.setattr(asyncio.events, "new_event_loop", OpaqueLoop)
    assert asyncio_compat.check() == [
        "Python 3.13.1 changed asyncio OpaqueTransport._sock, asyncio OpaqueTransport._loop; "
        "the fast path supports 3.11"
    ]


async def test_a_transport_without_a_raw_socket_is_left_to_its_public_api():
    loop = asyncio.get_running_loop()
    plain, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        opaque = OpaqueTransport(plain)
        assert asyncio_compat.raw_socket(opaque) is None
        assert asyncio_compat.stop_reading(opaque) is None
        assert isinstance(asyncio_compat.raw_socket(plain), socket.socket)
    finally:
        plain.close()


# -- the fast path is the one taken ------------------------------------------------------------------


SPACE, SPEAKER, TONE = 5, 1, 440.0


@pytest.fixture
async def speaker_and_listener():
    """A room with one speaker singing TONE and one listener, both real aiortc peers on loopback."""
    engine = MediaEngine(StubPolicy(publishers={SPEAKER}))
    speaker, listener = ClientPeer(TONE), ClientPeer()
    try:
        await speaker.connect(lambda sdp, kind: engine.negotiate(SPACE, SPEAKER, sdp, kind))
        await listener.connect(lambda sdp, kind: engine.negotiate(SPACE, None, sdp, kind))
        await asyncio.sleep(0.8)
        yield engine.rooms[SPACE], listener
    finally:
        await speaker.close()
        await listener.close()
        await engine.close()


def hears_the_tone(listener: ClientPeer) -> bool:
    last_200_ms = listener.recorder.audio_between(0, float("inf"))[-9600:]
    return tone_amplitude(last_200_ms, TONE) > 1500


async def test_on_loopback_the_fast_path_sends_on_raw_sockets_and_reads_speakers_on_the_tick(speaker_and_listener):
    room, listener = speaker_and_listener
    assert len(room.outputs) == 2
    assert all(isinstance(getattr(out.sendto, "__self__", None), socket.socket) for out in room.outputs)
    assert [peer.speaker.reads_on_tick for peer in room.publishers] == [True]
    assert hears_the_tone(listener)


@pytest.fixture
def no_raw_sockets(monkeypatch):
    # As on a TURN relay: the pair's transport is aioice's, with only the public sendto.
    monkeypatch.setattr(asyncio_compat, "raw_socket", lambda transport: None)


async def test_a_pair_without_a_raw_socket_still_carries_the_audio(no_raw_sockets, speaker_and_listener):
    room, listener = speaker_and_listener
    assert [peer.speaker.reads_on_tick for peer in room.publishers] == [False]
    assert hears_the_tone(listener)


# -- startup -------------------------------------------------------------------------------------------

# Runs an entry point as its console script would, with importlib.metadata reporting aiortc 1.17.0.
WITH_AIORTC_1_17 = """
import importlib.metadata, runpy, sys
real_version = importlib.metadata.version
importlib.metadata.version = lambda name: "1.17.0" if name == "aiortc" else real_version(name)
sys.argv = {argv!r}
runpy.{run}({target!r}, run_name="__main__")
"""
REFUSAL = "aiortc 1.17.0 is not a version the fast path was checked against; it supports 1.16"


def run_with_aiortc_1_17(run: str, target: str, argv: list[str]) -> subprocess.CompletedProcess:
    code = WITH_AIORTC_1_17.format(run=run, target=target, argv=argv)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "spaces_site.settings"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_runmedia_refuses_to_start_with_the_message():
    result = run_with_aiortc_1_17("run_path", "manage.py", ["manage.py", "runmedia"])
    assert result.returncode != 0
    assert REFUSAL in result.stderr
    assert "media worker" not in result.stdout


def test_daphne_refuses_to_start_with_the_message():
    port = free_port()
    argv = ["daphne", "-b", "127.0.0.1", "-p", str(port), "spaces_site.asgi:application"]
    result = run_with_aiortc_1_17("run_module", "daphne", argv)
    assert result.returncode != 0
    assert REFUSAL in result.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
