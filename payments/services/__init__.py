"""Every action on tickets, one module per concern; views, the webhook, the admin and tasks call these.

- ``box_office``: configure and disable ticketing, seats, the sales summary, holding and releasing a seat
- ``checkout``: pressing Buy (Stripe Checkout)
- ``fulfilment``: applying what Stripe says about a Checkout Session
- ``refunds``: deciding, making and recording refunds, never inside a row lock
- ``cancellation``: what a cancelled ticketed Space owes its buyers
- ``money``: minor units, display, the platform fee

Calls to Stripe go through ``payments.stripe`` and never happen while this code holds a row lock.
"""

from .box_office import (
    CHECKOUT_EXPIRY_SLACK,
    CHECKOUT_LIFETIME,
    SalesSummary,
    box_office_of,
    configure_ticketing,
    current_ticket,
    disable_ticketing,
    has_sales,
    release_seat,
    reserve_seat,
    sales_summary,
    seats_left,
    seats_taken,
    ticketing_enabled,
)
from .cancellation import close_checkouts, on_space_cancelled, refund_cancelled_space
from .checkout import start_checkout
from .errors import FulfilmentMismatch, TicketError
from .fulfilment import (
    abandon_checkout,
    apply_session,
    fulfil_session,
    refresh_from_stripe,
    release_expired_reservations,
    settle,
)
from .money import format_money, from_minor_units, minor_unit_exponent, platform_fee, to_minor_units
from .refunds import perform_refund, refund_ticket, request_refund, staff_refund, sync_refunds

__all__ = [
    "CHECKOUT_EXPIRY_SLACK",
    "CHECKOUT_LIFETIME",
    "FulfilmentMismatch",
    "SalesSummary",
    "TicketError",
    "abandon_checkout",
    "apply_session",
    "box_office_of",
    "close_checkouts",
    "configure_ticketing",
    "current_ticket",
    "disable_ticketing",
    "format_money",
    "from_minor_units",
    "fulfil_session",
    "has_sales",
    "minor_unit_exponent",
    "on_space_cancelled",
    "perform_refund",
    "platform_fee",
    "refresh_from_stripe",
    "refund_cancelled_space",
    "refund_ticket",
    "release_expired_reservations",
    "release_seat",
    "request_refund",
    "reserve_seat",
    "sales_summary",
    "seats_left",
    "seats_taken",
    "settle",
    "staff_refund",
    "start_checkout",
    "sync_refunds",
    "ticketing_enabled",
    "to_minor_units",
]
