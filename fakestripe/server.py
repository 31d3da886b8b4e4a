"""The fake's HTTP face: Stripe's /v1 API (api.py), the hosted checkout page (pages.py) and /_fake
controls (controls.py), behind one middleware that checks keys, replays Idempotency-Keys, applies the
configured latency and delivers the events a request produced."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
from typing import Any

import aiohttp
from aiohttp import web

from . import api, controls, pages
from .common import CONFIG, STORE, Handler, Latency, _error, _params, _spawn, deliver
from .forms import FormError
from .state import ApiError, Store


def _api_key(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    key = ""
    if header.startswith("Bearer "):
        key = header[7:].strip()
    elif header.startswith("Basic "):
        with contextlib.suppress(ValueError):
            key = base64.b64decode(header[6:]).decode().partition(":")[0]
    if not key:
        raise ApiError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            status=401,
        )
    required = request.app[CONFIG].get("api_key")
    if (required and key != required) or not key.startswith(("sk_test_", "rk_test_")):
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
        raise ApiError(f"Invalid API Key provided: {shown}", status=401)
    return key


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    store = request.app[STORE]
    before = len(store.events)
    request_id = "req_" + secrets.token_hex(7)
    try:
        if request.path.startswith("/v1/"):
            response = await _api_call(request, handler)
        else:
            response = await handler(request)
    except ApiError as err:
        response = _error(err)
    except FormError as err:
        response = _error(ApiError(str(err), param=err.param))
    except web.HTTPException as exc:
        if not request.path.startswith("/v1/") or exc.status < 400:
            raise
        response = _error(ApiError(f"Unrecognized request URL ({request.method}: {request.path}).", status=exc.status))
    response.headers["Request-Id"] = request_id
    new_events = store.events[before:]
    if new_events and store.auto_deliver and not request.get("delivered"):
        _spawn(request.app, deliver(request.app, new_events))
    return response


async def _api_call(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = _api_key(request)
    request["params"] = params = await _params(request)
    idem_key = request.headers.get("Idempotency-Key")
    latency: Latency = request.app[CONFIG]["latency"]
    if request.method != "POST" or not idem_key:
        await latency.wait(request)
        return await handler(request)
    # Stripe replays the first response for 24 h, and refuses the key for other parameters.
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.path, params], sort_keys=True).encode()
    ).hexdigest()
    cache = request.app[CONFIG]["idempotency"]
    slot = (key, idem_key)
    if slot in cache:
        seen_fingerprint, status, body = cache[slot]
        if seen_fingerprint != fingerprint:
            raise ApiError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{idem_key}' if you meant "
                "to execute a different request.",
                type="idempotency_error",
            )
        return web.Response(
            text=body,
            status=status,
            content_type="application/json",
            headers={"Idempotent-Replayed": "true", "Idempotency-Key": idem_key},
        )
    in_flight: set[tuple[str, str]] = request.app[CONFIG]["in_flight"]
    if slot in in_flight:
        # Like Stripe: a second request with a key whose first one is still running is refused (409).
        raise ApiError(
            "There is currently another in-progress request using this Idempotent Key (that probably means "
            "you submitted twice, and the other request is still going through): "
            f"{idem_key}. Please try again later.",
            status=409,
            type="idempotency_error",
        )
    in_flight.add(slot)
    try:
        # The work happens after the delay, even if the caller gave up meanwhile (as at Stripe, where a
        # request that timed out on the client may still have succeeded).
        await latency.wait(request)
        try:
            response = await handler(request)
        except ApiError as err:
            response = _error(err)
        if response.status < 500 and isinstance(response, web.Response):
            cache[slot] = (fingerprint, response.status, response.text)
    finally:
        in_flight.discard(slot)
    response.headers["Idempotency-Key"] = idem_key
    return response


# -- app -----------------------------------------------------------------------------------
async def _expiry_ticker(app: web.Application) -> None:
    # Stripe expires sessions on its own at expires_at; so does the fake, once a second.
    store = app[STORE]
    while True:
        await asyncio.sleep(1)
        expired = store.expire_due()
        if expired and store.auto_deliver:
            _spawn(app, deliver(app, expired))


async def _lifecycle(app: web.Application) -> Any:
    config = app[CONFIG]
    # One connection per delivery, like Stripe: nothing lingers on the receiving server.
    config["http"] = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30), connector=aiohttp.TCPConnector(force_close=True)
    )
    ticker = asyncio.ensure_future(_expiry_ticker(app))
    yield
    ticker.cancel()
    for task in list(config["tasks"]):
        task.cancel()
    await config["http"].close()


def make_app(
    *,
    api_key: str | None = None,
    public_url: str | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    auto_deliver: bool = True,
) -> web.Application:
    """Build the fake. ``api_key`` pins the one accepted key (any ``sk_test_`` otherwise)."""
    app = web.Application(middlewares=[api_middleware])
    store = Store()
    store.auto_deliver = auto_deliver
    if webhook_url:
        store.add_endpoint(webhook_url, webhook_secret)
    app[STORE] = store
    app[CONFIG] = {
        "api_key": api_key,
        "public_url": public_url.rstrip("/") if public_url else None,
        "idempotency": {},
        "deliveries": [],
        "tasks": set(),
        "delivery_lock": asyncio.Lock(),
        "in_flight": set(),  # Idempotency-Keys whose first request has not answered yet
        "latency": Latency(),
    }
    app.cleanup_ctx.append(_lifecycle)
    app.add_routes(
        [
            web.post("/v1/checkout/sessions", api.create_session),
            web.get("/v1/checkout/sessions", api.list_sessions),
            web.get("/v1/checkout/sessions/{id}", api.retrieve_session),
            web.get("/v1/checkout/sessions/{id}/line_items", api.session_line_items),
            web.post("/v1/checkout/sessions/{id}/expire", api.expire_session),
            web.get("/v1/payment_intents/{id}", api.retrieve_payment_intent),
            web.get("/v1/charges/{id}", api.retrieve_charge),
            web.post("/v1/refunds", api.create_refund),
            web.get("/v1/refunds", api.list_refunds),
            web.get("/v1/refunds/{id}", api.retrieve_refund),
            web.get("/v1/events", api.list_events),
            web.get("/v1/events/{id}", api.retrieve_event),
            web.post("/v1/webhook_endpoints", api.create_webhook_endpoint),
            web.get("/c/pay/{id}", pages.checkout_page),
            web.post("/c/pay/{id}", pages.checkout_page),
            web.get("/_fake/health", controls.health),
            web.post("/_fake/webhook_endpoints", controls.fake_add_endpoint),
            web.delete("/_fake/webhook_endpoints/{id}", controls.fake_delete_endpoint),
            web.post("/_fake/config", controls.fake_config),
            web.post("/_fake/sessions/{id}/pay", controls.fake_pay),
            web.post("/_fake/sessions/{id}/async_payment/{result:succeed|fail}", controls.fake_settle),
            web.post("/_fake/sessions/{id}/expire", controls.fake_expire),
            web.post("/_fake/clock", controls.fake_clock),
            web.get("/_fake/events", controls.fake_events),
            web.post("/_fake/events/{id}/resend", controls.fake_resend),
            web.post("/_fake/events/{id}/sign", controls.fake_sign),
            web.get("/_fake/deliveries", controls.fake_deliveries),
            web.post("/_fake/reset", controls.fake_reset),
            web.get("/_fake/latency", controls.fake_latency),
            web.post("/_fake/latency", controls.fake_latency),
        ]
    )
    return app
