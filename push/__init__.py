"""Web Push: notifications on people's phones and computers, from the server, through their browser's push
service (docs/phones.md). Below rooms, above accounts: rooms says what to tell whom (`push.enqueue`),
this app keeps each device's subscription and sends, with pywebpush and the site's VAPID keys."""

from __future__ import annotations

from typing import Any


def enqueue(user_ids: list[int], message: dict[str, Any]) -> None:
    """Push `message` ({"title", "body", "url", "tag"}) to every device of `user_ids` once the caller's
    transaction commits (the jobs outbox); does nothing while push is off."""
    from .services import enqueue as services_enqueue  # models can't load while the app registry starts

    services_enqueue(user_ids, message)
