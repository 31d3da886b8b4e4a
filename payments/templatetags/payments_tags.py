from __future__ import annotations

from django import template

from payments.services import format_money

register = template.Library()


@register.filter
def money(amount: int | None, currency: str = "usd") -> str:
    """{{ ticket.amount|money:ticket.currency }} → "5.00 USD" (amounts are stored in minor units)."""
    return format_money(amount, currency or "usd")
