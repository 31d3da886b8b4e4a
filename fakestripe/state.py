"""The fake's stateful core: Stripe objects, the transitions between them, and events.

Everything here is synchronous and runs on the server's single event loop, so each call is
atomic with respect to other requests; the HTTP layer lives in ``server.py``.
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from .forms import FormError, as_bool, as_int

API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits

SESSION_PARAMS = {
    "mode",
    "success_url",
    "cancel_url",
    "line_items",
    "metadata",
    "client_reference_id",
    "customer_email",
    "customer",
    "expires_at",
    "payment_intent_data",
    "payment_method_types",
    "locale",
    "submit_type",
    "currency",
    "expand",
    "allow_promotion_codes",
    "billing_address_collection",
    "ui_mode",
    "custom_text",
}
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
MIN_CHARGE = 50  # Stripe refuses charges below ~0.50 in the major currencies
SESSION_MIN_LIFETIME = 30 * 60
SESSION_MAX_LIFETIME = 24 * 60 * 60
EXPIRES_AT_LEEWAY = 60  # clock skew between caller and Stripe


class ApiError(Exception):
    """A Stripe-shaped error: becomes ``{"error": {...}}`` with ``status``."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "type": type}
        if param:
            self.body["param"] = param
        if code:
            self.body["code"] = code


def new_id(prefix: str) -> str:
    return prefix + "_test_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def missing(kind: str, object_id: str, param: str = "id") -> ApiError:
    return ApiError(f"No such {kind}: '{object_id}'", status=404, param=param, code="resource_missing")


def _check_unknown(params: dict[str, Any], allowed: set[str]) -> None:
    for key in params:
        if key not in allowed:
            raise ApiError(f"Received unknown parameter: {key}", param=key)


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ApiError("Invalid object", param=param)
    if len(value) > 50:
        raise ApiError("Metadata can have at most 50 keys.", param=param)
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            raise ApiError(f"Invalid metadata entry: {key}", param=f"{param}[{key}]")
    return dict(value)


def _url(value: Any, param: str) -> str:
    if not isinstance(value, str) or urlparse(value).scheme not in ("http", "https"):
        raise ApiError("Not a valid URL", param=param, code="url_invalid")
    return value


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    enabled_events: list[str] = field(default_factory=lambda: ["*"])

    def wants(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events

    def as_dict(self, with_secret: bool = False) -> dict[str, Any]:
        data = {
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "enabled_events": self.enabled_events,
            "livemode": False,
            "status": "enabled",
        }
        if with_secret:
            data["secret"] = self.secret
        return data


class Store:
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

    # -- checkout sessions --------------------------------------------------------
    def create_session(
        self, params: dict[str, Any], base_url: str, stripe_account: str | None = None
    ) -> dict[str, Any]:
        _check_unknown(params, SESSION_PARAMS)
        mode = params.get("mode")
        if mode is None:
            raise ApiError("Missing required param: mode.", param="mode", code="parameter_missing")
        if mode != "payment":
            raise ApiError("This fake Stripe supports mode=payment only.", param="mode")
        if params.get("ui_mode", "hosted") != "hosted":
            raise ApiError("This fake Stripe supports ui_mode=hosted only.", param="ui_mode")
        if "success_url" not in params:
            raise ApiError(
                "Missing required param: success_url.",
                param="success_url",
                code="parameter_missing",
            )
        success_url = _url(params["success_url"], "success_url")
        cancel_url = _url(params["cancel_url"], "cancel_url") if "cancel_url" in params else None

        raw_items = params.get("line_items")
        if not isinstance(raw_items, list) or not raw_items:
            raise ApiError(
                "You must specify `line_items` in `payment` mode.",
                param="line_items",
                code="parameter_missing",
            )
        items: list[dict[str, Any]] = []
        currencies = set()
        for index, raw in enumerate(raw_items):
            items.append(self._line_item(raw, f"line_items[{index}]"))
            currencies.add(items[-1]["currency"])
        if len(currencies) != 1:
            raise ApiError("All line items must use the same currency.", param="line_items")
        currency = currencies.pop()
        amount = sum(item["amount_total"] for item in items)
        if amount < MIN_CHARGE:
            raise ApiError(
                "The Checkout Session's total amount due must add up to at least 0.50.",
                param="line_items",
                code="amount_too_small",
            )

        now = self.now()
        if "expires_at" in params:
            expires_at = as_int(params["expires_at"], "expires_at")
            if expires_at < now + SESSION_MIN_LIFETIME - EXPIRES_AT_LEEWAY:
                raise ApiError(
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                    param="expires_at",
                )
            if expires_at > now + SESSION_MAX_LIFETIME + EXPIRES_AT_LEEWAY:
                raise ApiError(
                    "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                    param="expires_at",
                )
        else:
            expires_at = now + SESSION_MAX_LIFETIME

        reference = params.get("client_reference_id")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 200):
            raise ApiError("Invalid client_reference_id", param="client_reference_id")

        pi_data = self._payment_intent_data(params.get("payment_intent_data") or {}, amount, stripe_account)
        session_id = new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": cancel_url,
            "client_reference_id": reference,
            "created": now,
            "currency": currency,
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": _metadata(params.get("metadata"), "metadata"),
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": success_url,
            "ui_mode": "hosted",
            "url": f"{base_url}/c/pay/{session_id}",
        }
        for item in items:
            item["id"] = new_id("li")
        self.objects[session_id] = session
        self.session_items[session_id] = items
        self.session_pi_data[session_id] = pi_data
        return session

    def _line_item(self, raw: Any, param: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise ApiError("Invalid line item", param=param)
        if "price" in raw:
            # The fake has no Prices resource: callers must send price_data.
            raise missing("price", str(raw["price"]), param=f"{param}[price]")
        data = raw.get("price_data")
        if not isinstance(data, dict):
            raise ApiError(
                "You must specify either `price` or `price_data` for each line item.",
                param=param,
                code="parameter_missing",
            )
        currency = str(data.get("currency", "")).lower()
        if len(currency) != 3 or not currency.isalpha():
            raise ApiError("Invalid currency", param=f"{param}[price_data][currency]")
        if "unit_amount" not in data:
            raise ApiError(
                "Missing required param: unit_amount.",
                param=f"{param}[price_data][unit_amount]",
                code="parameter_missing",
            )
        unit_amount = as_int(data["unit_amount"], f"{param}[price_data][unit_amount]", minimum=0)
        product = data.get("product_data") or {}
        if not isinstance(product, dict) or not product.get("name"):
            raise ApiError(
                "Missing required param: product_data[name].",
                param=f"{param}[price_data][product_data][name]",
                code="parameter_missing",
            )
        quantity = as_int(raw.get("quantity", 1), f"{param}[quantity]", minimum=1)
        return {
            "object": "item",
            "amount_subtotal": unit_amount * quantity,
            "amount_total": unit_amount * quantity,
            "currency": currency,
            "description": product["name"],
            "price": {
                "id": new_id("price"),
                "object": "price",
                "currency": currency,
                "unit_amount": unit_amount,
                "product": new_id("prod"),
                "type": "one_time",
            },
            "quantity": quantity,
        }

    def _payment_intent_data(self, data: dict[str, Any], amount: int, stripe_account: str | None) -> dict[str, Any]:
        allowed = {
            "application_fee_amount",
            "transfer_data",
            "metadata",
            "description",
            "on_behalf_of",
            "statement_descriptor",
            "receipt_email",
        }
        for key in data:
            if key not in allowed:
                raise ApiError(
                    f"Received unknown parameter: payment_intent_data[{key}]",
                    param=f"payment_intent_data[{key}]",
                )
        result: dict[str, Any] = {
            "metadata": _metadata(data.get("metadata"), "payment_intent_data[metadata]"),
            "description": data.get("description"),
            "application_fee_amount": None,
            "transfer_data": None,
        }
        transfer = data.get("transfer_data")
        if transfer is not None:
            destination = transfer.get("destination") if isinstance(transfer, dict) else None
            if not isinstance(destination, str) or not destination.startswith("acct_"):
                raise ApiError(
                    "Invalid destination account",
                    param="payment_intent_data[transfer_data][destination]",
                )
            result["transfer_data"] = {"destination": destination}
        if "application_fee_amount" in data:
            fee = as_int(
                data["application_fee_amount"],
                "payment_intent_data[application_fee_amount]",
                minimum=0,
            )
            if not (transfer or data.get("on_behalf_of") or stripe_account):
                raise ApiError(
                    "Can only apply an application_fee_amount when the PaymentIntent is "
                    "attempting a direct payment (using an OAuth key or Stripe-Account header) "
                    "or destination payment (using `transfer_data[destination]`).",
                    param="payment_intent_data[application_fee_amount]",
                )
            if fee > amount:
                raise ApiError(
                    "The application fee cannot exceed the amount.",
                    param="payment_intent_data[application_fee_amount]",
                )
            result["application_fee_amount"] = fee
        return result

    def line_items(self, session_id: str) -> dict[str, Any]:
        self.get(session_id, "checkout.session")
        return {
            "object": "list",
            "data": copy.deepcopy(self.session_items[session_id]),
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    def session(self, session_id: str) -> dict[str, Any]:
        session = self.get(session_id, "checkout.session")
        self.expire_due()
        return session

    def expire_session(self, session_id: str) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise ApiError(
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                param="session",
            )
        session["status"] = "expired"
        session["url"] = None
        self.emit("checkout.session.expired", session)
        return session

    def expire_due(self) -> list[dict[str, Any]]:
        """Expire every open session whose expires_at has passed (Stripe does it by itself)."""
        now = self.now()
        expired = []
        for obj in list(self.objects.values()):
            if obj["object"] == "checkout.session" and obj["status"] == "open" and obj["expires_at"] <= now:
                obj["status"] = "expired"
                obj["url"] = None
                expired.append(self.emit("checkout.session.expired", obj))
        return expired

    # -- paying -----------------------------------------------------------------
    def pay_session(self, session_id: str, outcome: str = "paid") -> dict[str, Any]:
        """What the hosted page does when the buyer clicks Pay.

        ``outcome`` is ``paid`` (card), ``async`` (a delayed method such as a bank debit:
        the session completes unpaid and settles later) or ``declined`` (nothing changes).
        """
        session = self.session(session_id)
        if session["status"] != "open":
            raise ApiError(
                f"This Checkout Session is {session['status']}.",
                param="session",
                code="checkout_session_not_open",
            )
        if outcome == "declined":
            raise ApiError("Your card was declined.", status=402, code="card_declined", type="card_error")
        if outcome not in ("paid", "async"):
            raise ApiError(f"Unknown outcome {outcome}", param="outcome")
        pi_data = self.session_pi_data[session_id]
        intent = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "application_fee_amount": pi_data["application_fee_amount"],
            "created": self.now(),
            "currency": session["currency"],
            "description": pi_data["description"],
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(pi_data["metadata"]),
            "status": "processing",
            "transfer_data": pi_data["transfer_data"],
        }
        self.objects[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        session["status"] = "complete"
        session["url"] = None
        if outcome == "paid":
            self._succeed(intent)
            session["payment_status"] = "paid"
        else:
            self.emit("payment_intent.processing", intent)
        self.emit("checkout.session.completed", session)
        return session

    def settle_async(self, session_id: str, succeeded: bool) -> dict[str, Any]:
        session = self.session(session_id)
        intent = self.objects.get(session["payment_intent"] or "")
        if intent is None or intent["status"] != "processing":
            raise ApiError("This Checkout Session has no payment in progress.", param="session")
        if succeeded:
            self._succeed(intent)
            session["payment_status"] = "paid"
            self.emit("checkout.session.async_payment_succeeded", session)
        else:
            intent["status"] = "requires_payment_method"
            self.emit("payment_intent.payment_failed", intent)
            self.emit("checkout.session.async_payment_failed", session)
        return session

    def _succeed(self, intent: dict[str, Any]) -> None:
        charge = {
            "id": new_id("ch").replace("_test_", "_"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "application_fee_amount": intent["application_fee_amount"],
            "captured": True,
            "created": self.now(),
            "currency": intent["currency"],
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "paid": True,
            "payment_intent": intent["id"],
            "refunded": False,
            "status": "succeeded",
            "transfer_data": intent["transfer_data"],
        }
        self.objects[charge["id"]] = charge
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["latest_charge"] = charge["id"]
        self.emit("charge.succeeded", charge)
        self.emit("payment_intent.succeeded", intent)

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
