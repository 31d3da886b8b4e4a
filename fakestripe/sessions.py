"""Checkout Sessions and paying them: the part of the fake's Store that Checkout needs.

A mixin of ``state.Store`` (which supplies ``objects``, ``emit``, ``get`` and ``now``); kept apart so
each file stays readable.
"""

from __future__ import annotations

import copy
from typing import Any

from .forms import as_int
from .objects import ApiError, _check_unknown, _metadata, _url, missing, new_id

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
MIN_CHARGE = 50  # Stripe refuses charges below ~0.50 in the major currencies
SESSION_MIN_LIFETIME = 30 * 60
SESSION_MAX_LIFETIME = 24 * 60 * 60
EXPIRES_AT_LEEWAY = 60  # clock skew between caller and Stripe


class SessionsMixin:
    objects: dict[str, dict[str, Any]]
    session_items: dict[str, list[dict[str, Any]]]
    session_pi_data: dict[str, dict[str, Any]]

    def now(self) -> int:
        raise NotImplementedError

    def get(self, object_id: str, kind: str) -> dict[str, Any]:
        raise NotImplementedError

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

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
