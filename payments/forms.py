from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings

from . import services


class TicketingForm(forms.Form):
    price = forms.DecimalField(min_value=Decimal("0"), max_digits=9, decimal_places=2, help_text="Per ticket.")
    capacity = forms.IntegerField(min_value=1, max_value=100_000, label="Number of tickets")

    def __init__(self, *args, currency: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency = (currency or settings.SPACES_CURRENCY).lower()
        self.fields["price"].label = f"Price ({self.currency.upper()})"

    @property
    def price_minor(self) -> int:
        return services.to_minor_units(self.cleaned_data["price"], self.currency)
