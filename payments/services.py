"""Every action on tickets: configure, reserve, fulfil, release, refund, summarise.

Views, the webhook, the admin and Celery tasks all call these; each rule is written once here. Calls to
Stripe go through ``payments.stripe``. The capacity invariant — paid plus held tickets never exceed
``space.ticket_capacity`` — is kept by counting under a lock on the Space's row.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import User
from rooms.models import Notification, Space

from . import stripe as stripe_api
from .models import Ticket

log = logging.getLogger(__name__)

CHECKOUT_LIFETIME = timedelta(minutes=30)
# Stripe refuses an expires_at under 30 minutes from creation; a little slack absorbs clock skew.
CHECKOUT_EXPIRY_SLACK = timedelta(seconds=30)
# A reservation whose Checkout Session never got created (process died mid-way) is let go after this.
ORPHAN_RESERVATION_AGE = timedelta(minutes=5)
ZERO_DECIMAL_CURRENCIES = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}


class TicketError(Exception):
    """A ticket action that is not allowed; the message is shown to the user."""


class FulfilmentMismatch(Exception):
    """A Checkout Session that does not match the ticket it names: never grants anything."""


# --- money ---------------------------------------------------------------------------------------
def minor_unit_exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    scale = Decimal(10) ** minor_unit_exponent(currency)
    return int((amount * scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor_units(amount: int, currency: str) -> Decimal:
    exponent = minor_unit_exponent(currency)
    return (Decimal(amount) / (Decimal(10) ** exponent)).quantize(Decimal(1).scaleb(-exponent))


def format_money(amount: int | None, currency: str) -> str:
    if amount is None:
        return "—"
    return f"{from_minor_units(amount, currency):,} {currency.upper()}"


def platform_fee(amount: int) -> int:
    """The platform's cut of one sale, rounded half up to a minor unit."""
    fee = Decimal(amount) * Decimal(settings.SPACES_PLATFORM_FEE_PERCENT) / 100
    return int(fee.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- reading ---------------------------------------------------------------------------------------
def ticketing_enabled() -> bool:
    return stripe_api.is_configured()


def current_ticket(space: Space, user: User | AnonymousUser) -> Ticket | None:
    """The buyer's seat-holding ticket, else their latest one."""
    if not user.is_authenticated:
        return None
    tickets = Ticket.objects.filter(space=space, buyer=user)
    return tickets.filter(state__in=Ticket.ACTIVE_STATES).first() or tickets.order_by("-created_at", "-pk").first()


def seats_taken(space: Space) -> int:
    return Ticket.objects.filter(space=space, state__in=Ticket.ACTIVE_STATES).count()


def seats_left(space: Space) -> int:
    return max(0, (space.ticket_capacity or 0) - seats_taken(space))


def has_sales(space: Space) -> bool:
    return Ticket.objects.filter(space=space, paid_at__isnull=False).exists()


@dataclass(frozen=True)
class SalesSummary:
    currency: str
    capacity: int
    sold: int
    held: int
    remaining: int
    gross: int
    fee: int
    net: int
    refunded_count: int
    refunded_amount: int
    owed_to_host: int  # net of sales the platform collected (no connected account)


def sales_summary(space: Space) -> SalesSummary:
    tickets = Ticket.objects.filter(space=space)
    paid = Q(state=Ticket.State.PAID)
    totals = tickets.aggregate(
        sold=Count("pk", filter=paid),
        held=Count("pk", filter=Q(state__in=[Ticket.State.RESERVED, Ticket.State.PENDING])),
        gross=Sum("amount", filter=paid, default=0),
        fee=Sum("fee_amount", filter=paid, default=0),
        net=Sum("net_amount", filter=paid, default=0),
        refunded_count=Count("pk", filter=Q(state=Ticket.State.REFUNDED)),
        refunded_amount=Sum("refunded_amount", default=0),
        owed=Sum("net_amount", filter=paid & Q(destination_account=""), default=0),
    )
    capacity = space.ticket_capacity or 0
    return SalesSummary(
        currency=space.ticket_currency,
        capacity=capacity,
        sold=totals["sold"],
        held=totals["held"],
        remaining=max(0, capacity - totals["sold"] - totals["held"]),
        gross=totals["gross"],
        fee=totals["fee"],
        net=totals["net"],
        refunded_count=totals["refunded_count"],
        refunded_amount=totals["refunded_amount"],
        owed_to_host=totals["owed"],
    )


# --- host side ---------------------------------------------------------------------------------------
def configure_ticketing(space: Space, actor: User, *, price: int, capacity: int) -> Space:
    """Make a scheduled Space ticketed, or change its price and capacity while nothing has sold."""
    if actor.pk != space.host_id:
        raise TicketError("Only the host can sell tickets to this Space.")
    if not ticketing_enabled():
        raise TicketError("Ticketed Spaces are switched off on this server.")
    low, high = settings.SPACES_TICKET_MIN, settings.SPACES_TICKET_MAX
    currency = settings.SPACES_CURRENCY.lower()
    if not low <= price <= high:
        raise TicketError(
            f"The price must be between {format_money(low, currency)} and {format_money(high, currency)}."
        )
    if capacity < 1:
        raise TicketError("Sell at least one ticket.")
    with transaction.atomic():
        space = Space.objects.select_for_update().get(pk=space.pk)
        if not space.is_scheduled:
            raise TicketError("Only a scheduled Space can sell tickets.")
        if space.is_ticketed and has_sales(space):
            if price != space.ticket_price or currency != space.ticket_currency:
                raise TicketError("The price can't change once a ticket has sold.")
            if capacity < (space.ticket_capacity or 0):
                raise TicketError("Tickets have sold: you can raise the number of tickets, not lower it.")
        if capacity < seats_taken(space):
            raise TicketError("Some buyers are checking out: the number of tickets can't go below that.")
        space.is_ticketed = True
        space.ticket_price = price
        space.ticket_currency = currency
        space.ticket_capacity = capacity
        space.save(update_fields=["is_ticketed", "ticket_price", "ticket_currency", "ticket_capacity"])
    return space


def disable_ticketing(space: Space, actor: User) -> Space:
    if actor.pk != space.host_id:
        raise TicketError("Only the host can change this Space's tickets.")
    with transaction.atomic():
        space = Space.objects.select_for_update().get(pk=space.pk)
        if has_sales(space) or seats_taken(space):
            raise TicketError("Tickets have been sold: this Space stays ticketed (cancel it to refund everyone).")
        space.is_ticketed = False
        space.save(update_fields=["is_ticketed"])
    return space


# --- buying ----------------------------------------------------------------------------------------
def reserve_seat(space: Space, user: User) -> Ticket:
    """Hold one seat for ``user``, or refuse. The Space row lock makes concurrent buyers queue here."""
    with transaction.atomic():
        space = Space.objects.select_for_update().get(pk=space.pk)
        if not space.is_ticketed:
            raise TicketError("This Space doesn't sell tickets.")
        if space.is_over:
            raise TicketError("This Space is over: tickets are no longer sold.")
        if user.pk == space.host_id:
            raise TicketError("Hosts don't need a ticket to their own Space.")
        if Ticket.objects.filter(space=space, buyer=user, state__in=Ticket.ACTIVE_STATES).exists():
            raise TicketError("You already have a ticket to this Space.")
        if seats_taken(space) >= (space.ticket_capacity or 0):
            raise TicketError("Sold out.")
        amount = space.ticket_price
        fee = platform_fee(amount)
        host = User.objects.only("stripe_account_id").get(pk=space.host_id)
        return Ticket.objects.create(
            space=space,
            buyer=user,
            amount=amount,
            currency=space.ticket_currency,
            fee_amount=fee,
            net_amount=amount - fee,
            destination_account=host.stripe_account_id,
            reserved_until=timezone.now() + CHECKOUT_LIFETIME + CHECKOUT_EXPIRY_SLACK,
        )


def start_checkout(space: Space, user: User, *, success_url: str, cancel_url: str) -> str:
    """The Checkout URL for ``user``'s ticket: a new reservation, or the one they already have open."""
    if not ticketing_enabled():
        raise TicketError("Ticketed Spaces are switched off on this server.")
    existing = Ticket.objects.filter(space=space, buyer=user, state__in=Ticket.ACTIVE_STATES).first()
    if existing and existing.state == Ticket.State.RESERVED and existing.checkout_session_id:
        # A second click (or a second tab) returns to the same checkout rather than buying twice.
        session = stripe_api.retrieve_checkout_session(existing.checkout_session_id)
        if session.status == "open" and session.url:
            return session.url
        apply_session(session)
        existing.refresh_from_db()
        if existing.holds_seat:
            raise TicketError("You already have a ticket to this Space.")
    elif existing and existing.state == Ticket.State.RESERVED:
        # Its Checkout Session was never recorded (a crash mid-way): create it again, same key.
        return _open_checkout(existing, success_url=success_url, cancel_url=cancel_url)
    elif existing:
        raise TicketError("You already have a ticket to this Space.")
    ticket = reserve_seat(space, user)
    return _open_checkout(ticket, success_url=success_url, cancel_url=cancel_url)


def _open_checkout(ticket: Ticket, *, success_url: str, cancel_url: str) -> str:
    space = ticket.space
    metadata = {"ticket_id": str(ticket.pk), "space_id": str(space.pk), "user_id": str(ticket.buyer_id)}
    expires_at = ticket.created_at + CHECKOUT_LIFETIME + CHECKOUT_EXPIRY_SLACK
    try:
        session = stripe_api.create_checkout_session(
            amount=ticket.amount,
            currency=ticket.currency,
            product_name=f"Ticket: {space.title}"[:250],
            success_url=success_url,
            cancel_url=cancel_url,
            client_reference_id=str(ticket.pk),
            metadata=metadata,
            expires_at=max(int(expires_at.timestamp()), int(time.time() + CHECKOUT_LIFETIME.total_seconds())),
            # One ticket, one session: a retried request gets the same session back from Stripe.
            idempotency_key=f"spaces-ticket-{ticket.pk}-checkout",
            customer_email=ticket.buyer.email or None,
            destination_account=ticket.destination_account or None,
            application_fee_amount=ticket.fee_amount,
        )
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
        log.warning("checkout for ticket %s failed: %s", ticket.pk, exc)
        _release(ticket.pk, Ticket.State.FAILED)
        raise TicketError("Payments are unavailable right now. Please try again in a minute.") from exc
    Ticket.objects.filter(pk=ticket.pk).update(
        checkout_session_id=session.id,
        checkout_url=session.url or "",
        reserved_until=datetime.fromtimestamp(session.expires_at, tz=UTC),
    )
    return session.url or success_url


def _release(ticket_id: int, state: str) -> None:
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if ticket.state in (Ticket.State.RESERVED, Ticket.State.PENDING):
            ticket.release(state)
            ticket.save(update_fields=["state", "released_at"])


def abandon_checkout(ticket: Ticket) -> Ticket:
    """The buyer left checkout: close the session at Stripe so it can't be paid, then free the seat."""
    if ticket.state != Ticket.State.RESERVED:
        return ticket
    if ticket.checkout_session_id:
        apply_session(stripe_api.expire_checkout_session(ticket.checkout_session_id))
    else:
        _release(ticket.pk, Ticket.State.EXPIRED)
    ticket.refresh_from_db()
    return ticket


def release_expired_reservations() -> int:
    """Free seats whose checkout outlived its expiry (Stripe's expired webhook normally does this first)."""
    now = timezone.now()
    stale = Ticket.objects.filter(state=Ticket.State.RESERVED).filter(
        Q(reserved_until__lt=now) | Q(checkout_session_id="", created_at__lt=now - ORPHAN_RESERVATION_AGE)
    )
    released = 0
    for ticket in stale:
        try:
            ticket = abandon_checkout(ticket)
        except stripe_api.StripeUnavailable:
            log.warning("could not expire checkout for ticket %s; will try again", ticket.pk)
            continue
        released += ticket.state == Ticket.State.EXPIRED
    return released


# --- fulfilment ----------------------------------------------------------------------------------------
def fulfil_session(session_id: str) -> Ticket | None:
    """Bring the ticket in line with what Stripe says about ``session_id``: webhook and success page alike."""
    return apply_session(stripe_api.retrieve_checkout_session(session_id))


def _check_matches(ticket: Ticket, session: stripe_api.CheckoutSession) -> None:
    # The session must be the one we created for this ticket, at the price we stored.
    expected = {"ticket_id": str(ticket.pk), "space_id": str(ticket.space_id), "user_id": str(ticket.buyer_id)}
    problems = []
    if ticket.checkout_session_id not in ("", session.id):
        problems.append("session id")
    if session.amount_total != ticket.amount:
        problems.append(f"amount {session.amount_total} != {ticket.amount}")
    if session.currency != ticket.currency:
        problems.append(f"currency {session.currency} != {ticket.currency}")
    if any(session.metadata.get(k) != v for k, v in expected.items()):
        problems.append("metadata")
    if session.client_reference_id != str(ticket.pk):
        problems.append("client_reference_id")
    if problems:
        raise FulfilmentMismatch(f"session {session.id} does not match ticket {ticket.pk}: {', '.join(problems)}")


def apply_session(session: stripe_api.CheckoutSession) -> Ticket | None:
    ticket_id = session.metadata.get("ticket_id", "")
    if not ticket_id.isdigit():
        raise FulfilmentMismatch(f"session {session.id} names no ticket")
    refund_needed = None
    with transaction.atomic():
        space_id = Ticket.objects.filter(pk=ticket_id).values_list("space_id", flat=True).first()
        if space_id is None:
            raise FulfilmentMismatch(f"session {session.id} names unknown ticket {ticket_id}")
        # Same lock order as reserve_seat (Space, then ticket) so the capacity count is exact.
        space = Space.objects.select_for_update().get(pk=space_id)
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        _check_matches(ticket, session)
        if not ticket.checkout_session_id:
            ticket.checkout_session_id = session.id
        if session.is_paid:
            refund_needed = _apply_payment(space, ticket, session)
        elif session.status == "complete":
            if session.payment_intent_status in ("requires_payment_method", "canceled"):
                if ticket.state in (Ticket.State.RESERVED, Ticket.State.PENDING):
                    ticket.release(Ticket.State.FAILED)
            elif ticket.state == Ticket.State.RESERVED:
                ticket.mark_pending()  # a delayed payment method: the seat stays held until it settles
            ticket.payment_intent_id = session.payment_intent_id or ticket.payment_intent_id
        elif session.status == "expired" and ticket.state == Ticket.State.RESERVED:
            ticket.release(Ticket.State.EXPIRED)
        ticket.save()
    if refund_needed:
        return refund_ticket(ticket, reason=refund_needed)
    return ticket


def _apply_payment(space: Space, ticket: Ticket, session: stripe_api.CheckoutSession) -> str | None:
    """Record money received; return a refund reason when the ticket can't be honoured."""
    if ticket.state in (Ticket.State.PAID, Ticket.State.REFUNDED):
        return None  # already done: a duplicate or late event
    if ticket.state in (Ticket.State.EXPIRED, Ticket.State.FAILED):
        # Its seat was released before the money arrived. Honour it only if a seat is still free.
        other = Ticket.objects.filter(space=space, buyer=ticket.buyer_id, state__in=Ticket.ACTIVE_STATES)
        if space.is_over or other.exists() or seats_taken(space) >= (space.ticket_capacity or 0):
            ticket.payment_intent_id = session.payment_intent_id or ""
            ticket.paid_at = timezone.now()
            return Ticket.RefundReason.OVERSOLD
    ticket.mark_paid(session.payment_intent_id or "")
    if space.state == Space.State.CANCELLED:
        return Ticket.RefundReason.SPACE_CANCELLED  # paid while the host was cancelling
    return None


# --- refunds ------------------------------------------------------------------------------------------
def refund_ticket(ticket: Ticket, *, reason: str) -> Ticket:
    """Refund one paid ticket in full, once: the same Idempotency-Key makes a retry return the same Refund."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.state == Ticket.State.REFUNDED or not ticket.payment_intent_id:
            return ticket
        if ticket.state in (Ticket.State.RESERVED, Ticket.State.PENDING):
            raise TicketError("This ticket isn't paid yet.")
        try:
            refund = stripe_api.create_refund(
                ticket.payment_intent_id,
                idempotency_key=f"spaces-ticket-{ticket.pk}-refund",
                metadata={"ticket_id": str(ticket.pk), "space_id": str(ticket.space_id), "reason": reason},
                destination_charge=bool(ticket.destination_account),
            )
        except stripe_api.StripeRefused as exc:
            if exc.code != "charge_already_refunded":
                raise
            # Refunded already (an earlier run past Stripe's 24 h key memory, or by hand in Stripe).
            refund = _existing_refund(ticket.payment_intent_id)
        ticket.mark_refunded(refund.id, refund.amount if refund.status != "failed" else 0, reason)
        ticket.save()
    return ticket


def _live_refunds(payment_intent_id: str) -> list[stripe_api.Refund]:
    """The payment's refunds that moved (or are moving) money: failed and cancelled ones don't count."""
    return [r for r in stripe_api.list_refunds(payment_intent_id) if r.status in ("succeeded", "pending")]


def _existing_refund(payment_intent_id: str) -> stripe_api.Refund:
    refunds = _live_refunds(payment_intent_id)
    if not refunds:
        raise stripe_api.StripeUnavailable(f"{payment_intent_id} says refunded but lists no refund")
    return stripe_api.Refund(
        id=refunds[0].id, amount=sum(r.amount for r in refunds), status="succeeded", payment_intent_id=payment_intent_id
    )


def sync_refunds(payment_intent_id: str) -> Ticket | None:
    """Record refunds made outside our task (Stripe dashboard, or an event that beat the checkout one)."""
    ticket = Ticket.objects.filter(payment_intent_id=payment_intent_id).first()
    if ticket is None:
        ticket_id = stripe_api.payment_intent_metadata(payment_intent_id).get("ticket_id", "")
        ticket = Ticket.objects.filter(pk=ticket_id).first() if ticket_id.isdigit() else None
    if ticket is None:
        return None
    refunds = _live_refunds(payment_intent_id)
    total = sum(r.amount for r in refunds)
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        ticket.payment_intent_id = payment_intent_id
        if refunds and total >= ticket.amount and ticket.state != Ticket.State.REFUNDED:
            if ticket.state in (Ticket.State.RESERVED, Ticket.State.PENDING, Ticket.State.PAID):
                ticket.paid_at = ticket.paid_at or timezone.now()
            ticket.mark_refunded(refunds[0].id, total, Ticket.RefundReason.STRIPE)
        elif ticket.state != Ticket.State.REFUNDED:
            ticket.refunded_amount = min(total, ticket.amount)
        ticket.save()
    return ticket


def staff_refund(ticket: Ticket) -> Ticket:
    if ticket.state != Ticket.State.PAID:
        raise TicketError(f"Only a paid ticket can be refunded (this one is {ticket.get_state_display().lower()}).")
    ticket = refund_ticket(ticket, reason=Ticket.RefundReason.STAFF)
    _notify_refunded([ticket])
    return ticket


def on_space_cancelled(space: Space) -> None:
    """Call from rooms.services.cancel_space, inside its transaction: refunds start once it commits."""
    if not space.is_ticketed:
        return
    from .tasks import refund_cancelled_space

    space_id = space.pk
    transaction.on_commit(lambda: refund_cancelled_space.delay(space_id))


def refund_cancelled_space(space_id: int) -> int:
    """Refund every paid ticket of a cancelled Space. Safe to run twice, or again after a crash mid-way."""
    space = Space.objects.get(pk=space_id)
    if space.state != Space.State.CANCELLED:
        raise TicketError("Only a cancelled Space's tickets are refunded in bulk.")
    # Close open checkouts first so nobody pays for a cancelled Space; a payment that slips
    # through is refunded by fulfilment (it sees the cancelled Space).
    for ticket in Ticket.objects.filter(space=space, state=Ticket.State.RESERVED):
        abandon_checkout(ticket)
    refunded = []
    for ticket in Ticket.objects.filter(space=space, state=Ticket.State.PAID).order_by("pk"):
        refunded.append(refund_ticket(ticket, reason=Ticket.RefundReason.SPACE_CANCELLED))
    _notify_refunded(list(Ticket.objects.filter(space=space, state=Ticket.State.REFUNDED).select_related("space")))
    return len(refunded)


def _notify_refunded(tickets: list[Ticket]) -> None:
    # One notification per buyer and Space (the unique constraint makes a rerun a no-op).
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=t.buyer_id,
                kind=Notification.Kind.TICKET,
                space_id=t.space_id,
                text=f"Your ticket to “{t.space.title}” was refunded: {format_money(t.refunded_amount, t.currency)}."[
                    :200
                ],
            )
            for t in tickets
        ],
        ignore_conflicts=True,
    )
