"""The only module that talks to Stripe.

Everything else in Spaces sees plain dataclasses and three exceptions, never a ``stripe`` object, so
the rest of the code does not care whether it talks to Stripe itself or to the fake in ``fakestripe/``
(``STRIPE_API_BASE`` points the real client at it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

WEBHOOK_TOLERANCE = 300  # seconds, either side of now


class StripeUnavailable(Exception):
    """Stripe could not be reached or failed on its side: worth retrying later."""


class StripeRefused(Exception):
    """Stripe answered and said no (bad request, declined, already refunded...): retrying won't help."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class InvalidSignature(Exception):
    """A webhook whose Stripe-Signature does not prove it came from Stripe."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str  # open, complete, expired
    payment_status: str  # paid, unpaid, no_payment_required
    amount_total: int
    currency: str
    client_reference_id: str | None
    expires_at: int
    metadata: dict[str, str] = field(default_factory=dict)
    payment_intent_id: str | None = None
    payment_intent_status: str | None = None

    @property
    def is_paid(self) -> bool:
        return self.status == "complete" and self.payment_status == "paid"


@dataclass(frozen=True)
class Refund:
    id: str
    amount: int
    status: str
    payment_intent_id: str | None


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def is_test_mode() -> bool:
    return settings.STRIPE_SECRET_KEY.startswith(("sk_test_", "rk_test_"))


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        # The library retries network errors and 409/5xx itself, reusing our Idempotency-Key.
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=20),
    )


def client() -> stripe.StripeClient:
    if not is_configured():
        raise StripeUnavailable("Payments are not configured (STRIPE_SECRET_KEY is not set).")
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def _call(fn, *args: Any, **kwargs: Any) -> Any:
    """Run one Stripe call, sorting its failures into "try again" and "no"."""
    try:
        return fn(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise StripeUnavailable(str(exc)) from exc
    except stripe.StripeError as exc:
        if exc.http_status is None or exc.http_status >= 500 or exc.http_status == 409:
            raise StripeUnavailable(str(exc)) from exc
        raise StripeRefused(exc.user_message or str(exc), code=exc.code) from exc


def _session(obj: Any) -> CheckoutSession:
    data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    intent = data.get("payment_intent")
    return CheckoutSession(
        id=data["id"],
        url=data.get("url"),
        status=data["status"],
        payment_status=data["payment_status"],
        amount_total=int(data.get("amount_total") or 0),
        currency=str(data.get("currency") or "").lower(),
        client_reference_id=data.get("client_reference_id"),
        expires_at=int(data.get("expires_at") or 0),
        metadata=dict(data.get("metadata") or {}),
        payment_intent_id=intent.get("id") if isinstance(intent, dict) else intent,
        payment_intent_status=intent.get("status") if isinstance(intent, dict) else None,
    )


def create_checkout_session(
    *,
    amount: int,
    currency: str,
    product_name: str,
    success_url: str,
    cancel_url: str,
    client_reference_id: str,
    metadata: dict[str, str],
    expires_at: int,
    idempotency_key: str,
    customer_email: str | None = None,
    destination_account: str | None = None,
    application_fee_amount: int = 0,
) -> CheckoutSession:
    """A hosted Checkout Session for one item at ``amount`` (minor units) — the price the database says."""
    payment_intent_data: dict[str, Any] = {"metadata": metadata, "description": product_name}
    if destination_account:
        # A destination charge: Stripe pays the host and keeps our fee.
        payment_intent_data["application_fee_amount"] = application_fee_amount
        payment_intent_data["transfer_data"] = {"destination": destination_account}
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {"currency": currency, "unit_amount": amount, "product_data": {"name": product_name}},
            }
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "metadata": metadata,
        "expires_at": expires_at,
        "payment_intent_data": payment_intent_data,
    }
    if customer_email:
        params["customer_email"] = customer_email
    session = _call(client().v1.checkout.sessions.create, params=params, options={"idempotency_key": idempotency_key})
    return _session(session)


def retrieve_checkout_session(session_id: str) -> CheckoutSession:
    session = _call(client().v1.checkout.sessions.retrieve, session_id, params={"expand": ["payment_intent"]})
    return _session(session)


def expire_checkout_session(session_id: str) -> CheckoutSession:
    """Close an open session so it can no longer be paid; an already closed one is returned as it is."""
    try:
        _call(client().v1.checkout.sessions.expire, session_id)
    except StripeRefused:
        pass  # complete or already expired: the retrieve below says which
    return retrieve_checkout_session(session_id)


def create_refund(
    payment_intent_id: str,
    *,
    idempotency_key: str,
    metadata: dict[str, str],
    destination_charge: bool = False,
) -> Refund:
    params: dict[str, Any] = {"payment_intent": payment_intent_id, "metadata": metadata}
    if destination_charge:
        # Take the host's share back from their account and return our fee too: the buyer gets it all.
        params["reverse_transfer"] = True
        params["refund_application_fee"] = True
    refund = _call(client().v1.refunds.create, params=params, options={"idempotency_key": idempotency_key})
    return Refund(id=refund.id, amount=refund.amount, status=refund.status, payment_intent_id=payment_intent_id)


def list_refunds(payment_intent_id: str) -> list[Refund]:
    page = _call(client().v1.refunds.list, params={"payment_intent": payment_intent_id, "limit": 100})
    return [Refund(id=r.id, amount=r.amount, status=r.status, payment_intent_id=payment_intent_id) for r in page.data]


def payment_intent_metadata(payment_intent_id: str) -> dict[str, str]:
    intent = _call(client().v1.payment_intents.retrieve, payment_intent_id)
    return dict(intent.to_dict().get("metadata") or {})


def verify_webhook(payload: bytes, signature_header: str) -> dict[str, Any]:
    """The event in a webhook body, once its signature proves Stripe sent it in the last 5 minutes.

    stripe-python refuses stale timestamps but not ones from the future; a replayed body with a
    forward-dated signature is refused here too.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret or not signature_header:
        raise InvalidSignature("missing webhook secret or signature")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature_header, secret, tolerance=WEBHOOK_TOLERANCE
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise InvalidSignature(str(exc)) from exc
    timestamps = [int(p[2:]) for p in signature_header.split(",") if p.startswith("t=") and p[2:].isdigit()]
    if not timestamps or timestamps[0] > time.time() + WEBHOOK_TOLERANCE:
        raise InvalidSignature("timestamp outside the tolerance zone")
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise InvalidSignature("body is not JSON") from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise InvalidSignature("body is not a Stripe event")
    return event
