from __future__ import annotations

import pytest

from push.services import new_key_pair
from tests.push.pushservice import Browser, LocalPushService


@pytest.fixture
def vapid(settings) -> tuple[str, str]:
    """Push switched on with a fresh VAPID key pair; returns (public, private)."""
    public, private = new_key_pair()
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = public, private
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    return public, private


@pytest.fixture
def push_service(settings, vapid):
    """A push service on loopback, the only one the site may post to during the test."""
    service = LocalPushService.start()
    settings.SPACES_PUSH_SERVICES = ["127.0.0.1"]
    yield service
    service.stop()


@pytest.fixture
def browser(push_service):
    """make a browser subscribed at a push service endpoint of its own: browser("bobs-phone")."""
    return lambda name: Browser(push_service.endpoint(name))
