"""The fake's stateful core: Stripe objects, the transitions between them, and events.

Everything here is synchronous and runs on the server's single event loop, so each call is
atomic with respect to other requests; the HTTP layer lives in ``server.py``. Checkout Sessions
and payments are in ``sessions.py``.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from .forms import FormError, as_bool, as_int
from .objects import API_VERSION, ApiError, Endpoint, _check_unknown, _metadata, _url, missing, new_id
from .sessions import SessionsMixin

REFUND_PARAMS = {
    "payment_intent",
    "charge",
    "amount",
    "reason",
    "metadata",
    "refund_application_fee",
    "reverse_transfer",
    "expand",
}
REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}


class Store(SessionsMixin):
    """All objects of one fake Stripe account, keyed by id."""

    def __init__(self, api_version: str = API_VERSION) -> None:
        self.api_version = api_version
        self.objects: dict[str, dict[str, Any]] = {}
        self.session_items: dict[str, list[dict[str, Any]]] = {}
        self.session_pi_data: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.endpoints: dict[str, Endpoint] = {}
        self.auto_deliver = True
        self.clock_offset = 0  # seconds added to the wall clock, moved by /_fake/clock

    # -- helpers ---------------------------------------------------------------
    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def get(self, object_id: str, kind: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise missing(kind, object_id)
        return obj

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": new_id("evt").replace("_test_", "_"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": sum(1 for e in self.endpoints.values() if e.wants(event_type)),
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events.append(event)
        return event

    def event(self, event_id: str) -> dict[str, Any]:
        for event in self.events:
            if event["id"] == event_id:
                return event
        raise missing("event", event_id)

    def expand(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        for path in paths:
            self._expand_path(obj, path.split("."))
        return obj

    def _expand_path(self, obj: dict[str, Any], parts: list[str]) -> None:
        head, rest = parts[0], parts[1:]
        if head == "line_items" and obj.get("object") == "checkout.session":
            obj["line_items"] = self.line_items(obj["id"])
            return
        value = obj.get(head)
        if isinstance(value, str) and value in self.objects:
            obj[head] = value = copy.deepcopy(self.objects[value])
        elif head not in obj:
            raise ApiError(f"This property cannot be expanded ({head}).", param="expand")
        if rest and isinstance(value, dict):
            self._expand_path(value, rest)

    # -- refunds ----------------------------------------------------------------
    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_unknown(params, REFUND_PARAMS)
        if "charge" in params:
            charge = self.get(str(params["charge"]), "charge")
        elif "payment_intent" in params:
            intent = self.get(str(params["payment_intent"]), "payment_intent")
            if not intent["latest_charge"] or intent["status"] != "succeeded":
                raise ApiError(
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = self.objects[intent["latest_charge"]]
        else:
            raise ApiError(
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise ApiError(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = as_int(params.get("amount", remaining), "amount", minimum=1)
        if amount > remaining:
            raise ApiError(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                param="amount",
                code="amount_too_large",
            )
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise ApiError(f"Invalid reason: {reason}", param="reason")
        for flag in ("refund_application_fee", "reverse_transfer"):
            if flag in params:
                as_bool(params[flag], flag)
        refund = {
            "id": new_id("re").replace("_test_", "_"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "metadata": _metadata(params.get("metadata"), "metadata"),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
        }
        self.objects[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.emit("refund.created", refund)
        self.emit("charge.refunded", charge)
        return refund

    def list_of(self, kind: str, filters: dict[str, Any], url: str) -> dict[str, Any]:
        limit = as_int(filters.get("limit", 10), "limit", minimum=1)
        matches = [
            obj
            for obj in self.objects.values()
            if obj["object"] == kind
            and all(str(obj.get(k)) == str(v) for k, v in filters.items() if k not in ("limit", "expand"))
        ]
        matches.sort(key=lambda o: o["created"], reverse=True)
        return {
            "object": "list",
            "data": copy.deepcopy(matches[:limit]),
            "has_more": len(matches) > limit,
            "url": url,
        }

    # -- webhook endpoints ------------------------------------------------------
    def add_endpoint(self, url: str, secret: str | None = None, enabled_events: list[str] | None = None) -> Endpoint:
        endpoint = Endpoint(
            id=new_id("we").replace("_test_", "_"),
            url=_url(url, "url"),
            secret=secret or "whsec_" + secrets.token_hex(16),
            enabled_events=enabled_events or ["*"],
        )
        self.endpoints[endpoint.id] = endpoint
        return endpoint


__all__ = ["API_VERSION", "ApiError", "Endpoint", "FormError", "Store", "new_id"]
