"""Stripe's /v1 API, as far as Spaces uses it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .common import CONFIG, STORE, _json
from .forms import as_int
from .state import ApiError


def _expand(request: web.Request, obj: dict[str, Any]) -> web.Response:
    paths = request["params"].get("expand") or []
    if isinstance(paths, str):
        paths = [paths]
    return _json(request.app[STORE].expand(obj, paths))


def _base_url(request: web.Request) -> str:
    return request.app[CONFIG].get("public_url") or str(request.url.origin())


async def create_session(request: web.Request) -> web.Response:
    params = dict(request["params"])
    params.pop("expand", None)
    session = request.app[STORE].create_session(params, _base_url(request), request.headers.get("Stripe-Account"))
    return _expand(request, session)


async def retrieve_session(request: web.Request) -> web.Response:
    return _expand(request, request.app[STORE].session(request.match_info["id"]))


async def list_sessions(request: web.Request) -> web.Response:
    store = request.app[STORE]
    store.expire_due()
    return _json(store.list_of("checkout.session", request["params"], request.path))


async def session_line_items(request: web.Request) -> web.Response:
    return _json(request.app[STORE].line_items(request.match_info["id"]))


async def expire_session(request: web.Request) -> web.Response:
    return _expand(request, request.app[STORE].expire_session(request.match_info["id"]))


async def retrieve_payment_intent(request: web.Request) -> web.Response:
    return _expand(request, request.app[STORE].get(request.match_info["id"], "payment_intent"))


async def retrieve_charge(request: web.Request) -> web.Response:
    return _expand(request, request.app[STORE].get(request.match_info["id"], "charge"))


async def create_refund(request: web.Request) -> web.Response:
    params = dict(request["params"])
    params.pop("expand", None)
    return _expand(request, request.app[STORE].create_refund(params))


async def retrieve_refund(request: web.Request) -> web.Response:
    return _expand(request, request.app[STORE].get(request.match_info["id"], "refund"))


async def list_refunds(request: web.Request) -> web.Response:
    return _json(request.app[STORE].list_of("refund", request["params"], request.path))


async def retrieve_event(request: web.Request) -> web.Response:
    return _json(request.app[STORE].event(request.match_info["id"]))


async def list_events(request: web.Request) -> web.Response:
    params = request["params"]
    limit = as_int(params.get("limit", 10), "limit", minimum=1)
    events = [e for e in reversed(request.app[STORE].events) if params.get("type") in (None, e["type"])]
    return _json({"object": "list", "data": events[:limit], "has_more": len(events) > limit, "url": "/v1/events"})


async def create_webhook_endpoint(request: web.Request) -> web.Response:
    params = request["params"]
    if "url" not in params:
        raise ApiError("Missing required param: url.", param="url", code="parameter_missing")
    endpoint = request.app[STORE].add_endpoint(params["url"], None, params.get("enabled_events"))
    return _json(endpoint.as_dict(with_secret=True))
