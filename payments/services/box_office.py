"""A Space's box office: what it sells, how many seats are left, holding and giving back a seat.

The capacity invariant (paid plus held tickets never exceed ``BoxOffice.capacity``) is kept by counting
under a lock on the Space's BoxOffice row, so buyers queue there and never on the Space row that the live
room's stage actions lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import User
from rooms.models import Space

from .. import stripe as stripe_api
from ..models import BoxOffice, Ticket
from .errors import TicketError
from .money import format_money, platform_fee

CHECKOUT_LIFETIME = timedelta(minutes=30)
# Stripe refuses an expires_at under 30 minutes from creation; a little slack absorbs clock skew.
CHECKOUT_EXPIRY_SLACK = timedelta(seconds=30)


def ticketing_enabled() -> bool:
    return stripe_api.is_configured()


def box_office_of(space: Space) -> BoxOffice | None:
    return BoxOffice.objects.filter(space_id=space.pk).first()


def current_ticket(space: Space, user: User | AnonymousUser) -> Ticket | None:
    """The buyer's seat-holding ticket, else their latest one."""
    if not user.is_authenticated:
        return None
    tickets = Ticket.objects.filter(space=space, buyer=user)
    return tickets.filter(state__in=Ticket.ACTIVE_STATES).first() or tickets.order_by("-created_at", "-pk").first()


def seats_taken(space: Space) -> int:
    return Ticket.objects.filter(space=space, state__in=Ticket.ACTIVE_STATES).count()


def seats_left(space: Space) -> int:
    office = box_office_of(space)
    return max(0, office.capacity - seats_taken(space)) if office else 0


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
    refunds_pending: int  # decided, not yet confirmed by Stripe
    owed_to_host: int  # net of sales the platform collected (no connected account)


def sales_summary(space: Space) -> SalesSummary:
    office = box_office_of(space)
    paid = Q(state=Ticket.State.PAID)
    totals = Ticket.objects.filter(space=space).aggregate(
        sold=Count("pk", filter=paid),
        held=Count("pk", filter=Q(state__in=[Ticket.State.RESERVED, Ticket.State.PENDING])),
        gross=Sum("amount", filter=paid, default=0),
        fee=Sum("fee_amount", filter=paid, default=0),
        net=Sum("net_amount", filter=paid, default=0),
        refunded_count=Count("pk", filter=Q(state=Ticket.State.REFUNDED)),
        refunded_amount=Sum("refunded_amount", default=0),
        refunds_pending=Count("pk", filter=Q(refund_requested_at__isnull=False) & ~Q(state=Ticket.State.REFUNDED)),
        owed=Sum("net_amount", filter=paid & Q(destination_account=""), default=0),
    )
    capacity = office.capacity if office else 0
    return SalesSummary(
        currency=office.currency if office else settings.SPACES_CURRENCY.lower(),
        capacity=capacity,
        sold=totals["sold"],
        held=totals["held"],
        remaining=max(0, capacity - totals["sold"] - totals["held"]),
        gross=totals["gross"],
        fee=totals["fee"],
        net=totals["net"],
        refunded_count=totals["refunded_count"],
        refunded_amount=totals["refunded_amount"],
        refunds_pending=totals["refunds_pending"],
        owed_to_host=totals["owed"],
    )


# --- host side ---------------------------------------------------------------------------------------
def configure_ticketing(space: Space, actor: User, *, price: int, capacity: int) -> BoxOffice:
    """Make a scheduled Space ticketed, or change its price and capacity (price only while nothing sold)."""
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
        locked = Space.objects.select_for_update().get(pk=space.pk)
        if not locked.is_scheduled:
            raise TicketError("Only a scheduled Space can sell tickets.")
        office = BoxOffice.objects.select_for_update().filter(space=locked).first()
        if office is not None and has_sales(locked):
            if price != office.price or currency != office.currency:
                raise TicketError("The price can't change once a ticket has sold.")
            if capacity < office.capacity:
                raise TicketError("Tickets have sold: you can raise the number of tickets, not lower it.")
        if capacity < seats_taken(locked):
            raise TicketError("Some buyers are checking out: the number of tickets can't go below that.")
        office = office or BoxOffice(space=locked)
        office.price, office.currency, office.capacity = price, currency, capacity
        office.save()
        if not locked.is_ticketed:
            locked.is_ticketed = True
            locked.save(update_fields=["is_ticketed"])
    space.is_ticketed = True
    return office


def disable_ticketing(space: Space, actor: User) -> None:
    """Make a Space free again, while nobody has bought or is buying a ticket."""
    if actor.pk != space.host_id:
        raise TicketError("Only the host can change this Space's tickets.")
    with transaction.atomic():
        locked = Space.objects.select_for_update().get(pk=space.pk)
        BoxOffice.objects.select_for_update().filter(space=locked).first()  # buyers queue on this row
        if has_sales(locked) or seats_taken(locked):
            raise TicketError("Tickets have been sold: this Space stays ticketed (cancel it to refund everyone).")
        BoxOffice.objects.filter(space=locked).delete()
        locked.is_ticketed = False
        locked.save(update_fields=["is_ticketed"])
    space.is_ticketed = False


# --- seats -----------------------------------------------------------------------------------------
def reserve_seat(space: Space, user: User) -> Ticket:
    """Hold one seat for ``user``, or refuse. The box office row lock makes concurrent buyers queue here."""
    with transaction.atomic():
        office = BoxOffice.objects.select_for_update().filter(space_id=space.pk).first()
        space = Space.objects.get(pk=space.pk)
        if office is None or not space.is_ticketed:
            raise TicketError("This Space doesn't sell tickets.")
        if space.is_over:
            raise TicketError("This Space is over: tickets are no longer sold.")
        if user.pk == space.host_id:
            raise TicketError("Hosts don't need a ticket to their own Space.")
        if Ticket.objects.filter(space=space, buyer=user, state__in=Ticket.ACTIVE_STATES).exists():
            raise TicketError("You already have a ticket to this Space.")
        if seats_taken(space) >= office.capacity:
            raise TicketError("Sold out.")
        fee = platform_fee(office.price)
        host = User.objects.only("stripe_account_id").get(pk=space.host_id)
        return Ticket.objects.create(
            space=space,
            buyer=user,
            amount=office.price,
            currency=office.currency,
            fee_amount=fee,
            net_amount=office.price - fee,
            destination_account=host.stripe_account_id,
            reserved_until=timezone.now() + CHECKOUT_LIFETIME + CHECKOUT_EXPIRY_SLACK,
        )


def release_seat(ticket_id: int, state: str) -> None:
    """An unpaid ticket gives its seat back (expired, abandoned or failed)."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if ticket.state in (Ticket.State.RESERVED, Ticket.State.PENDING):
            ticket.release(state)
            ticket.save(update_fields=["state", "released_at"])
