"""Fixtures for the recordings tests: a storage of the test's own, fast chunking, loopback-only ICE, and an
engine, hub and HTTP streams stopped after each test."""

from __future__ import annotations

import aioice.ice
import pytest


@pytest.fixture(autouse=True)
def no_cpu_admission(settings):
    # The engine shares this busy test process with its client peers (see tests/media/test_admission.py).
    settings.SPACES_MEDIA_CPU_BUDGET = 0


@pytest.fixture(autouse=True)
def recordings_storage(settings, tmp_path):
    """The `recordings` storage in a folder of this test's own; chunks shipped every second."""
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "recordings")},
        },
    }
    settings.SPACES_RECORDING_SPOOL_DIR = tmp_path / "spool"
    settings.SPACES_RECORDING_CHUNK_SECONDS = 1
    return tmp_path / "recordings"


@pytest.fixture
def loopback_ice(monkeypatch):
    # aioice never offers 127.0.0.1 by itself; keep every test peer on loopback.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
async def in_process_media(settings, loopback_ice):
    """The media engine inside this process (even when REDIS_URL is set), stopped afterwards with the
    room hub and any listen.ogg streams."""
    from live import hub
    from media import client as media_client
    from recordings import stream

    settings.SPACES_MEDIA_IN_PROCESS = True
    yield
    await stream.shutdown()
    await media_client.shutdown()
    await hub.shutdown()
