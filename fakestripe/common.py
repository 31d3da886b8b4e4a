"""What the fake's HTTP modules share: app keys, JSON answers, request parameters, webhook delivery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from .forms import decode
from .signing import signature_header
from .state import ApiError, Store

log = logging.getLogger("fakestripe")

STORE: web.AppKey[Store] = web.AppKey("store", Store)
CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("config", dict)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Latency:
    """A delay (or a hang) before /v1 requests whose path starts with ``path``: ``POST /_fake/latency``.

    Requests already waiting are released when the latency is changed, so a test can hang Stripe and
    then let it answer.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.path = "/v1/"
        self.method = ""  # any
        self.waiting = 0
        self.completed = 0  # requests that waited and then went on
        self._released = asyncio.Event()

    def set(self, seconds: float, path: str = "/v1/", method: str = "") -> None:
        self.seconds, self.path, self.method = seconds, path or "/v1/", method.upper()
        self._released.set()  # wake everyone waiting under the old setting
        self._released = asyncio.Event()

    def applies(self, request: web.Request) -> bool:
        return self.seconds > 0 and request.path.startswith(self.path) and self.method in ("", request.method)

    async def wait(self, request: web.Request) -> None:
        if not self.applies(request):
            return
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.seconds)
        finally:
            self.waiting -= 1
            self.completed += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "path": self.path,
            "method": self.method,
            "waiting": self.waiting,
            "completed": self.completed,
        }


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data, indent=2),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _error(err: ApiError) -> web.Response:
    return _json({"error": err.body}, status=err.status)


async def _params(request: web.Request) -> dict[str, Any]:
    """Request parameters the way Stripe reads them: the query string, then a form body."""
    pairs = list(request.query.items())
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            return {**decode(pairs), **body}
        pairs += [(k, str(v)) for k, v in (await request.post()).items()]
    return decode(pairs)


def _spawn(app: web.Application, coro: Awaitable[Any]) -> None:
    tasks: set[asyncio.Task[Any]] = app[CONFIG]["tasks"]
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def deliver(
    app: web.Application,
    events: list[dict[str, Any]],
    only_url: str | None = None,
    secret: str | None = None,
) -> list[dict[str, Any]]:
    """POST each event to every endpoint that wants it, signed, one after another in order."""
    store, config = app[STORE], app[CONFIG]
    results = []
    async with config["delivery_lock"]:
        for event in events:
            payload = json.dumps(event, indent=2)
            targets = [(e.url, e.secret) for e in store.endpoints.values() if e.wants(event["type"])]
            if only_url:
                targets = [(only_url, secret or "")] if secret else [t for t in targets if t[0] == only_url]
            for url, endpoint_secret in targets:
                result: dict[str, Any] = {"event": event["id"], "type": event["type"], "url": url}
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature_header(payload, endpoint_secret),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                }
                try:
                    async with config["http"].post(url, data=payload, headers=headers) as resp:
                        result["status"] = resp.status
                        result["body"] = (await resp.text())[:500]
                except (TimeoutError, aiohttp.ClientError) as exc:
                    result["status"] = None
                    result["error"] = repr(exc)
                log.info("webhook %s %s -> %s %s", event["type"], event["id"], url, result.get("status"))
                config["deliveries"].append(result)
                results.append(result)
    return results
