from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TicketStateError(Exception):
    """An illegal ticket transition, e.g. paying for a ticket that was refunded."""


class BoxOffice(models.Model):
    """What a ticketed Space sells: its price (integer minor units), currency and number of tickets.

    One row per ticketed Space. ``Space.is_ticketed`` (the catalogue's "needs a ticket" flag) is set and
    cleared by payments.services in the same transaction that creates or deletes this row.
    """

    space = models.OneToOneField("rooms.Space", on_delete=models.CASCADE, primary_key=True, related_name="box_office")
    price = models.PositiveIntegerField(help_text="Per ticket, in minor units (cents).")
    currency = models.CharField(max_length=3, help_text="ISO 4217, lower case.")
    capacity = models.PositiveIntegerField(help_text="Tickets on sale in all.")

    class Meta:
        verbose_name_plural = "box offices"
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gte=1), name="boxoffice_price_positive"),
            models.CheckConstraint(condition=models.Q(capacity__gte=1), name="boxoffice_capacity_positive"),
            models.CheckConstraint(condition=~models.Q(currency=""), name="boxoffice_has_currency"),
        ]

    def __str__(self) -> str:
        return f"{self.space} ({self.capacity} × {self.price} {self.currency})"


class Ticket(models.Model):
    """One buyer's seat in a ticketed Space, from reservation to payment (or release, or refund).

    Money is in integer minor units. ``amount`` is what the buyer pays (gross); ``fee_amount`` is the
    platform's cut; ``net_amount`` is the host's share. ``destination_account`` is the host's Stripe
    connected account the charge was routed to, or blank when the platform collected the money and
    owes the net to the host.
    """

    class State(models.TextChoices):
        RESERVED = "reserved", "Reserved"  # checkout open, seat held
        PENDING = "pending", "Payment processing"  # delayed payment method, seat held
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Expired"  # checkout expired or abandoned, seat released
        FAILED = "failed", "Payment failed"  # seat released
        REFUNDED = "refunded", "Refunded"

    class RefundReason(models.TextChoices):
        SPACE_CANCELLED = "space_cancelled", "Space cancelled"
        OVERSOLD = "oversold", "Sold out when the payment arrived"
        STAFF = "staff", "Refunded by staff"
        STRIPE = "stripe", "Refunded in Stripe"

    # States that hold a seat; the unique constraint below and the capacity count use them.
    ACTIVE_STATES = (State.RESERVED, State.PENDING, State.PAID)

    space = models.ForeignKey("rooms.Space", on_delete=models.PROTECT, related_name="tickets")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tickets")
    state = models.CharField(max_length=10, choices=State.choices, default=State.RESERVED, db_index=True)
    amount = models.PositiveIntegerField(help_text="Gross, in minor units.")
    currency = models.CharField(max_length=3)
    fee_amount = models.PositiveIntegerField(default=0, help_text="Platform fee, in minor units.")
    net_amount = models.PositiveIntegerField(default=0, help_text="Host's share (gross − fee), in minor units.")
    destination_account = models.CharField(
        max_length=64, blank=True, help_text="Host's connected account paid by Stripe; blank: owed by the platform."
    )
    checkout_session_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=1000, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    refund_id = models.CharField(max_length=255, blank=True)
    refunded_amount = models.PositiveIntegerField(default=0)
    refund_reason = models.CharField(max_length=20, choices=RefundReason.choices, blank=True)
    # A refund we decided on and committed before calling Stripe (never inside a row lock); its job calls
    # Stripe and records the result. Pending while this is set and the state is not refunded.
    refund_requested_at = models.DateTimeField(null=True, blank=True)
    reserved_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "buyer"],
                condition=models.Q(state__in=["reserved", "pending", "paid"]),
                name="ticket_one_active_per_buyer",
            ),
            models.CheckConstraint(
                condition=models.Q(net_amount=models.F("amount") - models.F("fee_amount")),
                name="ticket_net_is_gross_minus_fee",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__lte=models.F("amount")), name="ticket_refund_within_amount"
            ),
            models.CheckConstraint(
                condition=~models.Q(state="paid") | models.Q(paid_at__isnull=False), name="ticket_paid_has_paid_at"
            ),
        ]
        indexes = [models.Index(fields=["space", "state"])]

    def __str__(self) -> str:
        return f"{self.buyer} → {self.space} ({self.state})"

    @property
    def holds_seat(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def refund_pending(self) -> bool:
        return self.refund_requested_at is not None and self.state != self.State.REFUNDED

    # State transitions: the only place the state and its timestamps change.
    def mark_pending(self) -> None:
        if self.state != self.State.RESERVED:
            raise TicketStateError(f"A {self.state} ticket can't wait for a payment.")
        self.state = self.State.PENDING

    def mark_paid(self, payment_intent_id: str, now=None) -> None:
        if self.state == self.State.REFUNDED:
            raise TicketStateError("A refunded ticket can't be paid again.")
        self.state = self.State.PAID
        self.payment_intent_id = payment_intent_id or self.payment_intent_id
        self.paid_at = self.paid_at or now or timezone.now()

    def release(self, state: str, now=None) -> None:
        """An unpaid ticket gives its seat back (expired, abandoned or failed payment)."""
        if self.state not in (self.State.RESERVED, self.State.PENDING):
            raise TicketStateError(f"A {self.state} ticket can't be released.")
        if state not in (self.State.EXPIRED, self.State.FAILED):
            raise TicketStateError(f"Release to {state}?")
        self.state = state
        self.released_at = now or timezone.now()

    def request_refund(self, reason: str, now=None) -> bool:
        """Decide to refund this paid ticket; True when that is new (the caller then enqueues the refund)."""
        if self.state in (self.State.RESERVED, self.State.PENDING):
            raise TicketStateError("This ticket isn't paid yet.")
        if self.state == self.State.REFUNDED or self.refund_requested_at is not None:
            return False
        self.refund_requested_at = now or timezone.now()
        self.refund_reason = reason
        return True

    def mark_refunded(self, refund_id: str, amount: int, reason: str, now=None) -> None:
        if self.state == self.State.REFUNDED:
            return
        self.state = self.State.REFUNDED
        self.refund_id = refund_id
        self.refunded_amount = min(self.amount, amount)
        self.refund_reason = reason
        self.refunded_at = now or timezone.now()


class WebhookEvent(models.Model):
    """Every Stripe event we accepted, stored by id so a redelivery is recognised and ignored.

    Processed (``processed_at``) with an empty ``error``, or rejected with the reason in ``error``; while
    one delivery works on it (``claimed_at``, no lock held) a concurrent copy is answered as a duplicate.
    """

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"
