"""Stripe events in: stored by id, processed once, in whatever order they arrive.

Handlers never trust the event's copy of an object for the ticket's state: they re-fetch the current
Checkout Session (or refunds) from Stripe, so a late or duplicated event cannot move a ticket backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import services
from . import stripe as stripe_api
from .models import WebhookEvent

log = logging.getLogger(__name__)


class Outcome(Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"  # stored with an error; retrying won't change it
    RETRY = "retry"  # Stripe was unreachable: answer 5xx so Stripe delivers it again


def _session_event(obj: dict[str, Any]) -> None:
    services.fulfil_session(obj["id"])


def _refund_event(obj: dict[str, Any]) -> None:
    payment_intent = obj.get("payment_intent")
    if isinstance(payment_intent, dict):
        payment_intent = payment_intent.get("id")
    if payment_intent:
        services.sync_refunds(payment_intent)


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "checkout.session.completed": _session_event,
    "checkout.session.async_payment_succeeded": _session_event,
    "checkout.session.async_payment_failed": _session_event,
    "checkout.session.expired": _session_event,
    "charge.refunded": _refund_event,
    "charge.refund.updated": _refund_event,
    "refund.created": _refund_event,
    "refund.updated": _refund_event,
    "refund.failed": _refund_event,
}


def receive(event: dict[str, Any]) -> Outcome:
    """Store a verified event and process it unless it was processed before."""
    try:
        with transaction.atomic():
            row, _ = WebhookEvent.objects.get_or_create(
                stripe_id=event["id"], defaults={"type": event["type"], "payload": event}
            )
    except IntegrityError:  # a concurrent delivery of the same event inserted it first
        row = WebhookEvent.objects.get(stripe_id=event["id"])

    with transaction.atomic():
        # Concurrent deliveries of one event queue here; the second sees processed_at and stops.
        row = WebhookEvent.objects.select_for_update().get(pk=row.pk)
        if row.processed_at:
            return Outcome.DUPLICATE
        row.attempts += 1
        handler = HANDLERS.get(event["type"])
        outcome = Outcome.PROCESSED if handler else Outcome.IGNORED
        try:
            if handler:
                with transaction.atomic():
                    handler(event["data"]["object"])
            row.error = ""
        except (services.FulfilmentMismatch, stripe_api.StripeRefused, services.TicketError) as exc:
            log.error("webhook %s %s rejected: %s", event["type"], event["id"], exc)
            row.error = str(exc)
            outcome = Outcome.REJECTED
        except stripe_api.StripeUnavailable as exc:
            log.warning("webhook %s %s will be retried: %s", event["type"], event["id"], exc)
            row.error = f"retrying: {exc}"
            row.save(update_fields=["attempts", "error"])
            return Outcome.RETRY
        row.processed_at = timezone.now()
        row.save(update_fields=["attempts", "error", "processed_at"])
    return outcome
