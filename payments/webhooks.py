"""Stripe events in: checked, stored by id, processed once, in whatever order they arrive.

Handlers never trust the event's copy of an object for the ticket's state: they re-fetch the current
Checkout Session (or refunds) from Stripe, so a late or duplicated event cannot move a ticket backwards.
No transaction is open while they talk to Stripe: the event is claimed in one short transaction, the
handler applies what Stripe says in short transactions of its own (refunding only after they commit),
and the outcome is recorded in a last one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import services
from . import stripe as stripe_api
from .models import TicketStateError, WebhookEvent

log = logging.getLogger(__name__)

# A delivery that claimed an event and then died (the process was killed) is taken over after this.
CLAIM_TIMEOUT = timedelta(minutes=2)


class Outcome(Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"  # stored with an error; retrying won't change it
    MALFORMED = "malformed"  # signed, but not an event we can read: refused with 400 (stored when it has an id)
    RETRY = "retry"  # Stripe was unreachable: answer 5xx so Stripe delivers it again


class MalformedEvent(ValueError):
    """A signed body that is not a well-formed Stripe event of the kind its type says."""


def _object_id(obj: dict[str, Any], field: str = "id") -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"data.object.{field} is missing or not a string")
    return value


def _session_event(obj: dict[str, Any]) -> None:
    services.fulfil_session(_object_id(obj))


def _refund_event(obj: dict[str, Any]) -> None:
    payment_intent = obj.get("payment_intent")
    if isinstance(payment_intent, dict):
        payment_intent = payment_intent.get("id")
    if payment_intent is not None and not isinstance(payment_intent, str):
        raise MalformedEvent("data.object.payment_intent is not a string")
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


def event_identity(event: Any) -> tuple[str, str]:
    """The event's id and type, or MalformedEvent: what we need to store it at all."""
    if not isinstance(event, dict):
        raise MalformedEvent("the body is not a JSON object")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        raise MalformedEvent("id is missing or not a string")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise MalformedEvent("type is missing or not a string")
    return event_id, event_type


def event_object(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent("data.object is missing or not an object")
    return obj


def receive(event: Any) -> Outcome:
    """Store a verified event and process it unless it was processed (or is being processed) already."""
    try:
        event_id, event_type = event_identity(event)
    except MalformedEvent as exc:
        log.error("webhook refused: %s", exc)
        return Outcome.MALFORMED
    row = _store(event_id, event_type, event)
    if not _claim(row):
        return Outcome.DUPLICATE
    handler = HANDLERS.get(event_type)
    outcome = Outcome.PROCESSED if handler else Outcome.IGNORED
    error = ""
    try:
        if handler:
            handler(event_object(event))
    except MalformedEvent as exc:
        log.error("webhook %s %s malformed: %s", event_type, event_id, exc)
        error, outcome = f"malformed: {exc}", Outcome.MALFORMED
    except (services.FulfilmentMismatch, services.TicketError, stripe_api.StripeRefused, TicketStateError) as exc:
        log.error("webhook %s %s rejected: %s", event_type, event_id, exc)
        error, outcome = str(exc), Outcome.REJECTED
    except stripe_api.StripeUnavailable as exc:
        log.warning("webhook %s %s will be retried: %s", event_type, event_id, exc)
        WebhookEvent.objects.filter(pk=row.pk).update(claimed_at=None, error=f"retrying: {exc}")
        return Outcome.RETRY
    except BaseException:
        WebhookEvent.objects.filter(pk=row.pk).update(claimed_at=None)  # Stripe's redelivery tries again
        raise
    WebhookEvent.objects.filter(pk=row.pk).update(claimed_at=None, processed_at=timezone.now(), error=error)
    return outcome


def _store(event_id: str, event_type: str, event: dict[str, Any]) -> WebhookEvent:
    try:
        with transaction.atomic():
            row, _ = WebhookEvent.objects.get_or_create(
                stripe_id=event_id, defaults={"type": event_type, "payload": event}
            )
    except IntegrityError:  # a concurrent delivery of the same event inserted it first
        row = WebhookEvent.objects.get(stripe_id=event_id)
    return row


def _claim(row: WebhookEvent) -> bool:
    """Take the event for this delivery, in a short transaction; False when it is done or taken."""
    now = timezone.now()
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().get(pk=row.pk)
        if row.processed_at or (row.claimed_at and row.claimed_at > now - CLAIM_TIMEOUT):
            return False
        row.claimed_at = now
        row.attempts += 1
        row.save(update_fields=["claimed_at", "attempts"])
    return True
