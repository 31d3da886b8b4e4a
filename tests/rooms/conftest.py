"""Fixtures shared by the rooms tests."""

from __future__ import annotations

import pytest

from rooms import events
from tests.rooms import roomkit


@pytest.fixture
def broadcasts(monkeypatch) -> list[tuple]:
    """Room events the services asked to send, as (space_id, event, data), instead of sending them."""
    sent = []

    def record(space_id, event, data=None):
        sent.append((space_id, event, data))

    monkeypatch.setattr(events, "broadcast_on_commit", record)
    return sent


@pytest.fixture
async def stop_hub():
    """Websocket tests: stop the hub their event loop started, so the next test's loop starts clean."""
    yield
    await roomkit.teardown()
