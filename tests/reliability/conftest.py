"""Fault tests use the payments fixtures too: the fake Stripe (a real subprocess) and ticketed Spaces."""

from tests.payments.conftest import fake_stripe, fake_stripe_server, make_space, press_buy  # noqa: F401
