"""Money in integer minor units: conversion, display and the platform's fee."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

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
