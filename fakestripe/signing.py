"""Stripe's webhook signature scheme: ``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``."""

from __future__ import annotations

import hashlib
import hmac
import time


def signature_header(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value Stripe would send for ``payload``."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode("utf-8"), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"
