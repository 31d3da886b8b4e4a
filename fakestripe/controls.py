"""``/_fake/...``: what tests and developers use to drive the fake (pay, expire, sign, slow down...)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .common import CONFIG, STORE, _json, _params, deliver
from .forms import as_bool, as_int
from .signing import signature_header
from .state import ApiError


async def _control_params(request: web.Request) -> dict[str, Any]:
    return await _params(request)


async def fake_add_endpoint(request: web.Request) -> web.Response:
    params = await _control_params(request)
    events = params.get("enabled_events")
    if isinstance(events, str):
        events = [events]
    endpoint = request.app[STORE].add_endpoint(params.get("url"), params.get("secret"), events)
    return _json(endpoint.as_dict(with_secret=True))


async def fake_delete_endpoint(request: web.Request) -> web.Response:
    endpoint = request.app[STORE].endpoints.pop(request.match_info["id"], None)
    if endpoint is None:
        raise ApiError("No such webhook endpoint", status=404, code="resource_missing")
    return _json({"id": endpoint.id, "deleted": True})


async def fake_config(request: web.Request) -> web.Response:
    store = request.app[STORE]
    params = await _control_params(request)
    if "auto_deliver" in params:
        store.auto_deliver = as_bool(params["auto_deliver"], "auto_deliver")
    return _json(
        {"auto_deliver": store.auto_deliver, "clock_offset": store.clock_offset, "api_version": store.api_version}
    )


async def fake_pay(request: web.Request) -> web.Response:
    params = await _control_params(request)
    store = request.app[STORE]
    session = store.pay_session(request.match_info["id"], params.get("outcome", "paid"))
    return _json(session)


async def fake_settle(request: web.Request) -> web.Response:
    succeeded = request.match_info["result"] == "succeed"
    return _json(request.app[STORE].settle_async(request.match_info["id"], succeeded))


async def fake_expire(request: web.Request) -> web.Response:
    return _json(request.app[STORE].expire_session(request.match_info["id"]))


async def fake_clock(request: web.Request) -> web.Response:
    store = request.app[STORE]
    params = await _control_params(request)
    store.clock_offset += as_int(params.get("advance", 0), "advance")
    expired = store.expire_due()
    return _json({"now": store.now(), "expired": [e["data"]["object"]["id"] for e in expired]})


async def fake_events(request: web.Request) -> web.Response:
    wanted = request.query.get("type")
    events = [e for e in request.app[STORE].events if wanted in (None, e["type"])]
    return _json({"object": "list", "data": events})


async def fake_resend(request: web.Request) -> web.Response:
    params = await _control_params(request)
    event = request.app[STORE].event(request.match_info["id"])
    request["delivered"] = True
    results = await deliver(request.app, [event], params.get("url"), params.get("secret"))
    return _json({"deliveries": results})


async def fake_sign(request: web.Request) -> web.Response:
    params = await _control_params(request)
    event = request.app[STORE].event(request.match_info["id"])
    if not params.get("secret"):
        raise ApiError("Missing required param: secret.", param="secret")
    payload = json.dumps(event, indent=2)
    timestamp = params.get("timestamp")
    header = signature_header(payload, params["secret"], None if timestamp is None else as_int(timestamp, "timestamp"))
    return _json({"payload": payload, "header": header})


async def fake_deliveries(request: web.Request) -> web.Response:
    return _json({"data": request.app[CONFIG]["deliveries"]})


async def fake_reset(request: web.Request) -> web.Response:
    request.app[STORE].__init__(request.app[STORE].api_version)  # type: ignore[misc]
    request.app[CONFIG]["idempotency"].clear()
    request.app[CONFIG]["deliveries"].clear()
    request.app[CONFIG]["latency"].set(0)
    return _json({"reset": True})


async def fake_latency(request: web.Request) -> web.Response:
    """GET: the current latency and how many requests wait on it. POST ``seconds`` (0 switches it off and
    releases every waiting request), ``path`` (default ``/v1/``) and ``method`` (default any)."""
    latency = request.app[CONFIG]["latency"]
    if request.method == "POST":
        params = await _control_params(request)
        try:
            seconds = float(params.get("seconds", 0))
        except (TypeError, ValueError):
            raise ApiError(f"Invalid number: {params.get('seconds')}", param="seconds") from None
        if not 0 <= seconds <= 3600:
            raise ApiError("seconds must be between 0 and 3600", param="seconds")
        latency.set(seconds, str(params.get("path", "/v1/")), str(params.get("method", "")))
    return _json(latency.as_dict())


async def health(request: web.Request) -> web.Response:
    return _json({"ok": True, "fake": "stripe"})
