"""A small, stateful fake of the Stripe API for tests and offline development.

It speaks the wire format the ``stripe`` library uses (form-encoded requests, JSON
responses, ``{"error": {...}}`` errors, Idempotency-Key replay) for the resources Spaces
needs — Checkout Sessions, PaymentIntents, Charges, Refunds, Events, webhook endpoints —
hosts a test-mode checkout page at each session's ``url``, and delivers webhooks signed
with Stripe's real scheme. Control endpoints under ``/_fake/`` let tests pay, expire and
replay events in any order. Start it with ``python -m fakestripe --port 12111``.
"""

from .server import make_app
from .signing import signature_header
from .state import ApiError, Store

__all__ = ["ApiError", "Store", "make_app", "signature_header"]
