"""The hosted checkout page at each session's ``url`` (test mode: Pay, pay later, or a declined card)."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from .common import STORE, deliver
from .state import ApiError

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
