"""Prometheus metrics at /metrics, computed when scraped (docs/operations.md, "The site").

Off unless SPACES_METRICS_TOKEN is set (404); then a scrape needs `Authorization: Bearer <token>` (403
without it). Every value is read at scrape time from where it lives — the database, the presence hashes
and the media workers' heartbeats in Redis — so any Daphne process answers for all of them, and a
process that died stops counting as soon as its reports go stale.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import cast

import redis
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

REDIS_TIMEOUT = 2.0  # seconds: a slow Redis makes the scrape report redis_up 0, not hang


# --- What is measured ----------------------------------------------------------------------------------


def space_counts() -> dict[str, int]:
    """Live and scheduled Spaces."""
    from rooms.models import Space

    return {"live": Space.objects.live().count(), "scheduled": Space.objects.upcoming().count()}


def _fresh_counts(entries: dict[str, str], now: float) -> dict[str, int]:
    """A presence hash's `count:timestamp` fields that are younger than the presence TTL, by process."""
    from live import presence

    fresh = {}
    for process, value in entries.items():
        count, _, stamp = value.partition(":")
        try:
            if now - float(stamp) <= presence.ttl():
                fresh[process] = int(count)
        except ValueError:
            continue
    return fresh


def presence_reports(client: redis.Redis | None) -> dict[int, dict[str, int]]:
    """Open sockets per room and process: {space_id: {process: sockets}}, fresh reports only."""
    from live import presence

    now = time.time()
    if client is None:
        # Embedded default: one process, whose hub keeps its reports in memory. Copy before reading:
        # the hub's event loop writes them from another thread.
        rooms = {space_id: dict(entries) for space_id, entries in list(presence.LocalPresence._rooms.items())}
    else:
        prefix = presence.KEY.format(space_id="")
        keys = {}
        for key in client.scan_iter(match=prefix + "*", count=500):
            try:
                keys[int(key.removeprefix(prefix))] = key
            except ValueError:
                continue
        pipe = client.pipeline(transaction=False)  # one round trip for every room
        for key in keys.values():
            pipe.hgetall(key)
        rooms = dict(zip(keys, pipe.execute(), strict=True))
    reports = {space_id: _fresh_counts(entries, now) for space_id, entries in rooms.items()}
    return {space_id: counts for space_id, counts in reports.items() if counts}


def media_workers(client: redis.Redis) -> list[dict]:
    """The heartbeat records of live media workers (media/placement.py), each with its `load`."""
    prefix = settings.SPACES_MEDIA_REDIS_PREFIX
    ids = sorted(cast(set[str], client.smembers(f"{prefix}:workers")))  # decode_responses: str
    if not ids:
        return []
    records = client.mget([f"{prefix}:worker:{worker_id}" for worker_id in ids])
    workers = []
    for record in records:
        if record is None:  # its heartbeat expired: the worker is gone
            continue
        try:
            workers.append(json.loads(record))
        except ValueError:
            continue
    return workers


def webhook_failures() -> dict[bool, int]:
    """Stripe webhook events whose handling failed, by whether a later attempt processed them."""
    from payments.models import WebhookEvent

    failed = WebhookEvent.objects.exclude(error="")
    return {
        True: failed.filter(processed_at__isnull=False).count(),
        False: failed.filter(processed_at__isnull=True).count(),
    }


def outbox() -> dict[str, float]:
    """The outbox (jobs/): jobs waiting to run, jobs given up on, and the age of the oldest waiting one."""
    from django.db.models import Min
    from django.utils import timezone

    from jobs.models import Job

    waiting = Job.objects.unfinished()
    oldest = waiting.aggregate(oldest=Min("created_at"))["oldest"]
    return {
        "depth": waiting.count(),
        "failed": Job.objects.filter(failed_at__isnull=False).count(),
        "oldest_seconds": (timezone.now() - oldest).total_seconds() if oldest else 0.0,
    }


def refund_backlog() -> int:
    """Paid tickets whose refund was decided and committed but has not gone through Stripe yet."""
    from payments.models import Ticket

    return Ticket.objects.filter(refund_requested_at__isnull=False).exclude(state=Ticket.State.REFUNDED).count()


# --- The collector ---------------------------------------------------------------------------------------


def _redis_client() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, decode_responses=True
    )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class SpacesCollector(Collector):
    """Reads everything at scrape time; holds no state between scrapes."""

    def collect(self) -> Iterator[Metric]:
        counts = space_counts()
        yield _gauge("spaces_live_spaces", "Spaces live now.", counts["live"])
        yield _gauge("spaces_scheduled_spaces", "Spaces scheduled and not started.", counts["scheduled"])
        yield from self._webhooks()
        jobs = outbox()
        yield _gauge("spaces_outbox_depth", "Outbox jobs not finished yet (waiting or running).", jobs["depth"])
        yield _gauge("spaces_outbox_failed", "Outbox jobs given up on after too many attempts.", jobs["failed"])
        yield _gauge(
            "spaces_outbox_oldest_seconds",
            "Age of the oldest unfinished outbox job (0 when none).",
            jobs["oldest_seconds"],
        )
        yield _gauge("spaces_refund_backlog", "Paid tickets whose refund is decided but not done.", refund_backlog())
        yield from self._redis_backed()

    def _webhooks(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "spaces_webhook_failures",
            "Stripe webhook events stored with an error, by whether they were processed since.",
            labels=["processed"],
        )
        for processed, count in webhook_failures().items():
            family.add_metric(["true" if processed else "false"], count)
        yield family

    def _redis_backed(self) -> Iterator[Metric]:
        client = _redis_client()
        try:
            reports = presence_reports(client)
            workers = media_workers(client) if client is not None else None
        except redis.RedisError as exc:
            logger.warning("metrics: Redis did not answer: %s", exc)
            yield _gauge("spaces_redis_up", "1 when Redis answered this scrape.", 0)
            return
        finally:
            if client is not None:
                client.close()
        if client is not None:
            yield _gauge("spaces_redis_up", "1 when Redis answered this scrape.", 1)
        yield from self._sockets(reports)
        if workers is not None:
            yield from self._media(workers)

    def _sockets(self, reports: dict[int, dict[str, int]]) -> Iterator[Metric]:
        per_process: dict[str, int] = defaultdict(int)
        per_room = GaugeMetricFamily(
            "spaces_room_sockets", "Open room sockets per Space, over all processes.", labels=["space_id"]
        )
        for space_id, counts in sorted(reports.items()):
            per_room.add_metric([str(space_id)], sum(counts.values()))
            for process, sockets in counts.items():
                per_process[process] += sockets
        per_process_family = GaugeMetricFamily(
            "spaces_process_sockets", "Open room sockets per Daphne process.", labels=["process"]
        )
        for process, sockets in sorted(per_process.items()):
            per_process_family.add_metric([process], sockets)
        yield per_process_family
        yield per_room

    def _media(self, workers: list[dict]) -> Iterator[Metric]:
        yield _gauge("spaces_media_workers", "Media workers with a live heartbeat.", len(workers))
        gauges = {
            field: GaugeMetricFamily(f"spaces_media_worker_{field}", documentation, labels=["worker"])
            for field, documentation in (
                ("rooms", "Rooms a media worker hosts."),
                ("peers", "Peer connections a media worker holds."),
                ("speakers", "Speakers a media worker mixes."),
                ("cpu", "A media worker's CPU use, in cores."),
            )
        }
        overruns = CounterMetricFamily(
            "spaces_media_worker_tick_overruns",
            "Audio ticks a media worker finished late since it started.",
            labels=["worker"],
        )
        for worker in workers:
            worker_id = str(worker.get("id", ""))
            load = worker.get("load") or {}
            for field, family in gauges.items():
                if isinstance(load.get(field), int | float):
                    family.add_metric([worker_id], load[field])
            if isinstance(load.get("tick_overruns"), int | float):
                overruns.add_metric([worker_id], load["tick_overruns"])
        yield from gauges.values()
        yield overruns


registry = CollectorRegistry(auto_describe=False)
registry.register(SpacesCollector())


# --- The view ------------------------------------------------------------------------------------------


def _authorised(request: HttpRequest, token: str) -> bool:
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.SPACES_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set SPACES_METRICS_TOKEN.")
    if not _authorised(request, token):
        return HttpResponseForbidden("A bearer token is needed.", content_type="text/plain")
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
