"""The Prometheus endpoint: protected by a bearer token, every value read at scrape time."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from rooms import services
from tests.conftest import REDIS_URL
from tests.live.roomkit import close_all, join, live_space, make_space

TOKEN = "scrape-me-7f3a"


@pytest.fixture
def token(settings):
    settings.SPACES_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client: Client | None = None) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from one authorised scrape."""
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- Access ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_off_without_a_configured_token(client, settings):
    settings.SPACES_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", f"bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN])
def test_a_scrape_without_the_right_token_is_refused(client, token, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get("/metrics", **extra)
    assert response.status_code == 403
    assert b"spaces_" not in response.content


@pytest.mark.django_db
def test_a_scrape_is_read_only_and_never_cached(client, token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert "no-cache" in response["Cache-Control"]


# --- Values -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_live_and_scheduled_counts_change_when_a_space_goes_live(token, alice, bob):
    scheduled = make_space(bob)
    before = scrape()
    assert value(before, "spaces_live_spaces") == 0
    assert value(before, "spaces_scheduled_spaces") == 1

    services.create_space(alice, title="Now", start_now=True)
    services.start_space(scheduled, bob)
    after = scrape()
    assert value(after, "spaces_live_spaces") == 2
    assert value(after, "spaces_scheduled_spaces") == 0

    services.end_space(scheduled, bob)
    assert value(scrape(), "spaces_live_spaces") == 1


@pytest.mark.django_db
def test_webhook_failures_are_counted_processed_or_not(token):
    from payments.models import WebhookEvent

    def event(n: int, **fields) -> None:
        WebhookEvent.objects.create(stripe_id=f"evt_{n}", type="checkout.session.completed", payload={}, **fields)

    event(1)  # fine
    event(2, processed_at=timezone.now())  # fine
    event(3, error="KeyError: 'object'")  # failed, not processed
    event(4, error="no such ticket")
    event(5, error="timeout on first try", processed_at=timezone.now())  # failed once, processed later
    samples = scrape()
    assert value(samples, "spaces_webhook_failures", processed="false") == 2
    assert value(samples, "spaces_webhook_failures", processed="true") == 1


@pytest.mark.django_db
def test_outbox_depth_and_refund_backlog(token, alice, bob):
    from datetime import timedelta

    from jobs.models import Job
    from payments.models import Ticket

    empty = scrape()
    assert value(empty, "spaces_outbox_depth") == 0 and value(empty, "spaces_refund_backlog") == 0
    Job.objects.create(task="rooms.tasks.fan_out_notifications", created_at=timezone.now() - timedelta(minutes=5))
    Job.objects.create(task="rooms.tasks.fan_out_notifications", finished_at=timezone.now())
    Job.objects.create(task="payments.tasks.refund_ticket", failed_at=timezone.now())
    space = make_space(alice, "cancelled")
    Ticket.objects.create(
        space=space,
        buyer=bob,
        state=Ticket.State.PAID,
        amount=500,
        net_amount=500,
        currency="usd",
        payment_intent_id="pi_1",
        paid_at=timezone.now(),
        refund_requested_at=timezone.now(),
    )
    samples = scrape()
    assert value(samples, "spaces_outbox_depth") == 1
    assert value(samples, "spaces_outbox_failed") == 1
    assert 299 < value(samples, "spaces_outbox_oldest_seconds") < 400
    assert value(samples, "spaces_refund_backlog") == 1


@pytest.mark.django_db
def test_a_redis_outage_is_reported_and_the_rest_still_scraped(token, settings, alice):
    services.create_space(alice, title="Now", start_now=True)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    started = time.monotonic()
    samples = scrape()
    assert time.monotonic() - started < 5
    assert value(samples, "spaces_redis_up") == 0
    assert value(samples, "spaces_live_spaces") == 1


# --- Sockets: from the presence reports every process writes ------------------------------------------------


async def _scrape_async() -> dict:
    return await database_sync_to_async(scrape)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stop_hub")
async def test_open_sockets_per_room_and_process_follow_real_sockets(token, alice, bob, carol):
    from live import presence

    space = await database_sync_to_async(live_space)(alice)
    store = presence.backend()  # a room of the same id may linger in Redis from an earlier run
    await store.clear(space.pk)
    await store.close()

    def per_process(samples: dict) -> dict:
        return {labels: count for (name, labels), count in samples.items() if name == "spaces_process_sockets"}

    before = per_process(await _scrape_async())  # other tests' reports may still be fresh
    sockets = [(await join(space.pk, user))[0] for user in (alice, bob, carol)]
    await asyncio.sleep(1.3)  # the hub reports once a second
    samples = await _scrape_async()
    assert value(samples, "spaces_room_sockets", space_id=str(space.pk)) == 3
    gained = [count - before.get(labels, 0) for labels, count in per_process(samples).items()]
    assert [count for count in gained if count > 0] == [3]  # this process's hub holds all three

    await close_all(*sockets[1:])
    await asyncio.sleep(1.3)
    samples = await _scrape_async()
    assert value(samples, "spaces_room_sockets", space_id=str(space.pk)) == 1
    await close_all(sockets[0])


@pytest.mark.redis
@pytest.mark.django_db
def test_each_process_is_counted_and_a_dead_one_drops_out(token):
    import redis

    from live import presence

    client = redis.Redis.from_url(REDIS_URL)
    key = presence.KEY.format(space_id=987654)
    now = time.time()
    client.hset(key, mapping={"daphne-a:1": f"40:{now}", "daphne-b:2": f"2:{now}", "crashed:3": f"500:{now - 600}"})
    try:
        samples = scrape()
    finally:
        client.delete(key)
    assert value(samples, "spaces_room_sockets", space_id="987654") == 42
    assert value(samples, "spaces_process_sockets", process="daphne-a:1") == 40
    assert value(samples, "spaces_process_sockets", process="daphne-b:2") == 2
    assert value(samples, "spaces_process_sockets", process="crashed:3") is None
    assert value(samples, "spaces_redis_up") == 1


# --- Media workers: from their heartbeat records ------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stop_hub")  # also closes the scrape's database connection
async def test_media_workers_load_and_tick_overruns(token, settings):
    from media.placement import Placement

    placement = Placement(REDIS_URL, settings.SPACES_MEDIA_REDIS_PREFIX)
    try:
        await placement.heartbeat("worker-a", "chan-a", {"rooms": 2, "peers": 30, "speakers": 3, "cpu": 0.4})
        await placement.heartbeat(
            "worker-b", "chan-b", {"rooms": 1, "peers": 5, "speakers": 1, "cpu": 0.1, "tick_overruns": 7}
        )
        samples = await _scrape_async()
    finally:
        await placement.retire("worker-a", [])
        await placement.retire("worker-b", [])
        await placement.close()
    assert value(samples, "spaces_media_workers") == 2
    assert value(samples, "spaces_media_worker_peers", worker="worker-a") == 30
    assert value(samples, "spaces_media_worker_rooms", worker="worker-b") == 1
    assert value(samples, "spaces_media_worker_cpu", worker="worker-a") == pytest.approx(0.4)
    assert value(samples, "spaces_media_worker_tick_overruns_total", worker="worker-b") == 7
    assert value(samples, "spaces_media_worker_tick_overruns_total", worker="worker-a") is None
    assert value(await _scrape_async(), "spaces_media_workers") == 0  # retired: gone at once
