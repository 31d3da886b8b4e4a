from __future__ import annotations

from django import template

from payments.gate import ticket_refusal
from payments.services import format_money

register = template.Library()


@register.filter
def money(amount: int | None, currency: str = "usd") -> str:
    """{{ ticket.amount|money:ticket.currency }} → "5.00 USD" (amounts are stored in minor units)."""
    return format_money(amount, currency or "usd")


@register.simple_tag
def holds_ticket(space, user) -> bool:
    """{% holds_ticket space user as has_ticket %}: a ticket that lets `user` in (the gate's own answer)."""
    return space.is_ticketed and ticket_refusal(space, user) is None
