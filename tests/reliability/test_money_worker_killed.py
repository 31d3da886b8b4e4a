"""A worker killed (kill -9) in the middle of a refund, with Stripe slow: a new worker finishes the job and
every ticket is refunded exactly once, within the Redis visibility timeout plus a refund's time.

Real processes: a Redis broker of our own, Celery workers on the test database, the fake Stripe made slow.
Acks are late, so the killed worker's message stays unacknowledged in Redis and is delivered again once
``visibility_timeout`` has passed (shortened here to VISIBILITY seconds; 600 s in production, see
docs/operations.md). No beat runs here: the outbox sweeper is not what recovers this one.
"""

from __future__ import annotations

import time

import pytest
import requests

from payments.models import Ticket
from rooms import services as rooms_services
from tests.jobs.money import refunds_at_stripe, sell
from tests.jobs.procs import Broker, Celery, celery_broker, stripe_env, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VISIBILITY = 8  # seconds
STRIPE_LATENCY = 3  # seconds per refund


def test_a_worker_killed_mid_refund_leaves_nothing_refunded_twice_or_not_at_all(
    fake_stripe, make_space, make_user, press_buy, tmp_path
):
    host = make_user("host")
    space = make_space(host)
    paid = sell(fake_stripe, space, make_user, press_buy, 3)
    broker = Broker(tmp_path)
    broker.start()
    latency = {"seconds": STRIPE_LATENCY, "path": "/v1/refunds", "method": "POST"}
    requests.post(fake_stripe.url + "/_fake/latency", data=latency).raise_for_status()
    env = {"CELERY_BROKER_URL": broker.url, "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY), **stripe_env(fake_stripe.url)}
    first = Celery(["worker", "--pool", "solo", "--loglevel", "INFO"], tmp_path / "first.log", env)
    second = None
    try:
        first.wait_ready()
        with celery_broker(broker.url):
            rooms_services.cancel_space(space, host)
        in_stripe = lambda: requests.get(fake_stripe.url + "/_fake/latency").json()["waiting"] >= 1  # noqa: E731
        wait_for(in_stripe, 20, "no refund reached Stripe")
        first.kill_9()
        killed_at = time.monotonic()

        second = Celery(["worker", "--pool", "solo", "--loglevel", "INFO"], tmp_path / "second.log", env)
        refunded = Ticket.objects.filter(pk__in=[t.pk for t in paid], state=Ticket.State.REFUNDED)
        wait_for(lambda: refunded.count() == 3, VISIBILITY + 30, "tickets not all refunded")
        took = time.monotonic() - killed_at
        print(f"\nkill -9 mid-refund → all 3 refunded {took:.1f} s later (visibility_timeout {VISIBILITY} s)")
        assert took < VISIBILITY + 3 * STRIPE_LATENCY + 10
        time.sleep(2)  # nothing more arrives
    finally:
        requests.post(fake_stripe.url + "/_fake/latency", data={"seconds": 0})
        first.stop()
        if second:
            second.stop()
        broker.stop()
    for ticket in paid:
        refunds = refunds_at_stripe(fake_stripe, ticket)
        assert [r["amount"] for r in refunds] == [500], (first.output()[-2000:], second.output()[-2000:])
        assert Ticket.objects.get(pk=ticket.pk).refund_id == refunds[0]["id"]
