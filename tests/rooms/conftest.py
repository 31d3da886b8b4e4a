"""Fixtures the rooms tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def logged_in(client, bob):
    """The test client, logged in as bob."""
    client.force_login(bob)
    return client
