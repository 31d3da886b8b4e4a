"""Fixtures for the media tests: loopback-only ICE and a policy that tests can change."""

from __future__ import annotations

import aioice.ice
import pytest


@pytest.fixture(autouse=True)
def no_cpu_admission(settings):
    # The test process runs the engine and its client peers on one busy core: admission control
    # (SPACES_MEDIA_CPU_BUDGET) is tested on its own, in test_admission.py.
    settings.SPACES_MEDIA_CPU_BUDGET = 0


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch):
    # aioice never offers 127.0.0.1 by itself; keep every test peer on loopback.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


class StubPolicy:
    """Stands in for live.stage / rooms.access in tests of the engine alone."""

    def __init__(self, publishers: set[int] = frozenset(), audible: set[int] | None = None) -> None:
        self.publishers = set(publishers)
        self.audible = set(self.publishers if audible is None else audible)
        self.refused: dict[int | None, str] = {}
        self.demo_voice: int | None = None

    async def entry_refusal(self, space_id: int, user_id: int | None) -> str | None:
        return self.refused.get(user_id)

    async def publisher_user_ids(self, space_id: int) -> set[int]:
        return set(self.publishers)

    async def audible_user_ids(self, space_id: int) -> set[int]:
        return set(self.audible)

    async def demo_voice_user_id(self, space_id: int) -> int | None:
        return self.demo_voice


@pytest.fixture
def policy():
    return StubPolicy()
