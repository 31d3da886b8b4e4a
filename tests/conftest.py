"""Fixtures shared by every test package."""

from __future__ import annotations

import os

import pytest
from allauth.account.models import EmailAddress
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections

from media.placement import DEFAULT_PREFIX, Placement
from spaces_site.celery import app as celery_app

PASSWORD = "listen-to-the-room-42"

REDIS_URL = os.environ.get("REDIS_URL", "")
DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config, items):
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL (CI sets it; .ci/run starts Redis)")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI sets it; .ci/run starts PostgreSQL)")
    for item in items:
        if "redis" in item.keywords and not REDIS_URL:
            item.add_marker(skip_redis)
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)


@pytest.fixture(autouse=True, scope="session")
def _celery_eager():
    # Unit tests run tasks inline; tests of the real worker switch this off (see `celery_worker`).
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    # Real hashing costs ~0.4 s a user; the tests are about behaviour, not key stretching.
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """allauth's rate-limit counters live in the cache (Redis in CI): each test starts with none."""
    if REDIS_URL:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        # allauth's, and accounts.ratelimit's (chat, reports, follows): ids repeat across test databases.
        keys = list(client.scan_iter("*allauth:rl:*")) + list(client.scan_iter("*spaces:rl:*"))
        if keys:
            client.delete(*keys)
    else:
        from django.core.cache import cache

        cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets a new channel layer: channels-redis binds its receive lock to the first event loop
    that receives, and every async test runs on a loop of its own (a server process has just one)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def make_user(db):
    """make_user("alice") -> a verified, active user who can log in with PASSWORD."""
    from accounts.models import User

    def make(handle: str, *, email: str | None = None, verified: bool = True, **extra) -> User:
        email = email or f"{handle.lower()}@example.com"
        user = User.objects.create_user(handle=handle, email=email, password=PASSWORD, **extra)
        EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice", display_name="Alice Liddell")


@pytest.fixture
def bob(make_user):
    return make_user("bob", display_name="Bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker thread consuming from Redis (REDIS_URL). Tasks run off the test's thread."""
    if not REDIS_URL:
        pytest.skip("needs Redis: a real Celery worker consumes from REDIS_URL")
    from celery.contrib.testing.worker import start_worker

    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
            yield worker
    finally:
        celery_app.conf.task_always_eager = True


@pytest.fixture
def broadcasts(monkeypatch) -> list[tuple]:
    """Room deltas the services emitted, as (space_id, event name, fields), instead of sending them."""
    import msgspec

    from live import events

    sent = []

    def record(space_id, delta):
        fields = msgspec.to_builtins(delta)
        name = fields.pop("event")
        fields.pop("seq")
        sent.append((space_id, name, fields))

    monkeypatch.setattr(events, "emit", record)
    return sent


@pytest.fixture
async def stop_hub():
    """Websocket tests: stop the hub their event loop started, so the next test's loop starts clean."""
    from tests.live import roomkit

    yield
    await roomkit.teardown()


@pytest.fixture
async def placement():
    """The media workers' placement in Redis, as runmedia sees it (for tests that start runmedia processes)."""
    placement = Placement(settings.REDIS_URL, DEFAULT_PREFIX)
    yield placement
    await placement.close()
    # database_sync_to_async's thread keeps its connection (CONN_MAX_AGE): let the test database go.
    await database_sync_to_async(connections.close_all)()
