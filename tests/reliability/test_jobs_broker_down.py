"""Going live while the broker is down: the host's page answers normally, and once a broker and a worker
are back every follower is told exactly once, in the app and by e-mail."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from accounts import services as accounts
from jobs.models import Job
from rooms.models import Notification, Space
from tests.jobs.procs import Broker, Celery, celery_broker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_going_live_with_the_broker_down_tells_every_follower_once_when_it_is_back(make_user, tmp_path, settings):
    host = make_user("host")
    fans = [make_user(f"fan{i}") for i in range(5)]
    for fan in fans:
        accounts.follow(fan, host)
    space = Space.objects.create(host=host, title="Back soon")

    broker = Broker(tmp_path)
    client = Client()
    client.force_login(host)
    with celery_broker(broker.url):
        started = time.monotonic()
        response = client.post(f"/spaces/{space.pk}/start/", follow=True)
        answered_in = time.monotonic() - started
    assert response.redirect_chain[0][1] == 302 and "Your followers are being told" in response.content.decode()
    assert answered_in < 3, answered_in
    print(f"\nwith the broker down the page answered in {answered_in * 1000:.0f} ms")
    assert Space.objects.get(pk=space.pk).is_live
    assert not Notification.objects.exists()
    assert Job.objects.unfinished().filter(task="rooms.tasks.fan_out_notifications").count() == 2

    broker.start()
    worker = Celery(
        ["worker", "--beat", "--pool", "solo", "--loglevel", "INFO"],
        tmp_path / "worker.log",
        # Three per batch: the five followers take two delivery jobs.
        {"CELERY_BROKER_URL": broker.url, "SPACES_JOBS_SWEEP_SECONDS": "1", "SPACES_NOTIFY_BATCH_SIZE": "3"},
    )
    try:
        told = Notification.objects.filter(space=space, kind=Notification.Kind.HOST_LIVE)
        took = wait_for(lambda: told.filter(emailed_at__isnull=False).count() == 5, 40, "followers not told")
        print(f"\nbroker back → 5 followers told in {took:.1f} s (worker start included)")
        wait_for(lambda: not Job.objects.unfinished().exists(), 15, "jobs not finished")
        time.sleep(2)  # a few more sweeps: nothing is sent again
    finally:
        worker.stop()
        broker.stop()
    assert sorted(told.values_list("recipient__handle", flat=True)) == [f"fan{i}" for i in range(5)]
    # The worker prints each e-mail (console backend): one per follower.
    recipients = re.findall(r"^To: (\S+)$", worker.output(), flags=re.MULTILINE)
    assert sorted(recipients) == [f"fan{i}@example.com" for i in range(5)], worker.output()[-3000:]
    assert Job.objects.filter(task="rooms.tasks.deliver_notifications").count() == 2
