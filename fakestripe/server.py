"""The fake's HTTP face: Stripe's /v1 API, the hosted checkout page and /_fake controls."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from .forms import FormError, as_bool, as_int, decode
from .signing import signature_header
from .state import ApiError, Store

log = logging.getLogger("fakestripe")

STORE: web.AppKey[Store] = web.AppKey("store", Store)
CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("config", dict)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    if request.method != "POST" or not idem_key:
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
    try:
        response = await handler(request)
    except ApiError as err:
        response = _error(err)
    if response.status < 500 and isinstance(response, web.Response):
        cache[slot] = (fingerprint, response.status, response.text)
    response.headers["Idempotency-Key"] = idem_key
    return response


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


# -- /v1 API ------------------------------------------------------------------------------
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


# -- hosted checkout page -------------------------------------------------------------------
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout (TEST MODE)</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; }}
.banner {{ background: #ffde92; padding: .5rem 1rem; font-weight: bold; }}
.amount {{ font-size: 2rem; }} .error {{ color: #b00; }}
button {{ font-size: 1rem; padding: .5rem 1rem; margin: .25rem 0; }}
</style></head><body>
<p class="banner">TEST MODE — fake Stripe. No real money moves.</p>
<h1>{description}</h1>
<p class="amount">{amount}</p>
{body}
</body></html>"""


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


def _render(session: dict[str, Any], description: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=PAGE.format(
            description=html.escape(description),
            amount=_money(session["amount_total"], session["currency"]),
            body=body,
        ),
        status=status,
        content_type="text/html",
    )


def _pay_form(session: dict[str, Any], error: str = "") -> str:
    cancel = session.get("cancel_url")
    parts = [f'<p class="error">{html.escape(error)}</p>' if error else ""]
    parts.append(
        '<form method="post">'
        '<button name="outcome" value="paid">Pay (test mode)</button><br>'
        '<button name="outcome" value="async">Pay with a delayed method (settles later)</button>'
        '<br><button name="outcome" value="declined">Use a card that is declined</button>'
        "</form>"
    )
    if cancel:
        parts.append(f'<p><a href="{html.escape(cancel)}">Cancel</a></p>')
    return "".join(parts)


def _success_url(session: dict[str, Any]) -> str:
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


async def checkout_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = store.session(request.match_info["id"])
    description = store.session_items[session["id"]][0]["description"]
    if session["status"] != "open":
        body = f"<p>This checkout session is {html.escape(session['status'])}.</p>"
        return _render(session, description, body)
    if request.method == "GET":
        return _render(session, description, _pay_form(session))
    outcome = (await request.post()).get("outcome", "paid")
    try:
        store.pay_session(session["id"], str(outcome))
    except ApiError as err:
        return _render(session, description, _pay_form(session, str(err)), status=err.status)
    if store.auto_deliver:
        # Like Stripe most of the time: the webhook lands before the buyer's browser returns.
        events = store.events[-4:]
        pending = [
            e
            for e in events
            if e["data"]["object"].get("id") in (session["id"], session["payment_intent"])
            or e["data"]["object"].get("payment_intent") == session["payment_intent"]
        ]
        request["delivered"] = True
        await deliver(request.app, pending)
    raise web.HTTPSeeOther(_success_url(session))


# -- /_fake controls ---------------------------------------------------------------------------
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
    return _json({"reset": True})


async def health(request: web.Request) -> web.Response:
    return _json({"ok": True, "fake": "stripe"})


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
    }
    app.cleanup_ctx.append(_lifecycle)
    app.add_routes(
        [
            web.post("/v1/checkout/sessions", create_session),
            web.get("/v1/checkout/sessions", list_sessions),
            web.get("/v1/checkout/sessions/{id}", retrieve_session),
            web.get("/v1/checkout/sessions/{id}/line_items", session_line_items),
            web.post("/v1/checkout/sessions/{id}/expire", expire_session),
            web.get("/v1/payment_intents/{id}", retrieve_payment_intent),
            web.get("/v1/charges/{id}", retrieve_charge),
            web.post("/v1/refunds", create_refund),
            web.get("/v1/refunds", list_refunds),
            web.get("/v1/refunds/{id}", retrieve_refund),
            web.get("/v1/events", list_events),
            web.get("/v1/events/{id}", retrieve_event),
            web.post("/v1/webhook_endpoints", create_webhook_endpoint),
            web.get("/c/pay/{id}", checkout_page),
            web.post("/c/pay/{id}", checkout_page),
            web.get("/_fake/health", health),
            web.post("/_fake/webhook_endpoints", fake_add_endpoint),
            web.delete("/_fake/webhook_endpoints/{id}", fake_delete_endpoint),
            web.post("/_fake/config", fake_config),
            web.post("/_fake/sessions/{id}/pay", fake_pay),
            web.post("/_fake/sessions/{id}/async_payment/{result:succeed|fail}", fake_settle),
            web.post("/_fake/sessions/{id}/expire", fake_expire),
            web.post("/_fake/clock", fake_clock),
            web.get("/_fake/events", fake_events),
            web.post("/_fake/events/{id}/resend", fake_resend),
            web.post("/_fake/events/{id}/sign", fake_sign),
            web.get("/_fake/deliveries", fake_deliveries),
            web.post("/_fake/reset", fake_reset),
        ]
    )
    return app
