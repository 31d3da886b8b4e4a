"""ICE servers for browsers: STUN from settings plus short-lived TURN REST credentials.

With TURN_SECRET set (coturn's `use-auth-secret` / `static-auth-secret`), each client gets a username
`<expiry>:<user>` and a password HMAC-SHA1(secret, username) in base64, valid for TURN_TTL seconds,
so no long-lived TURN password ever reaches a browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings


def turn_credentials(secret: str, user_id: int | None, ttl: int, now: float | None = None) -> tuple[str, str]:
    expiry = int(time.time() if now is None else now) + ttl
    username = f"{expiry}:{user_id if user_id is not None else 'guest'}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(user_id: int | None, now: float | None = None) -> list[dict]:
    """RTCPeerConnection iceServers for this user, as the browser wants them."""
    servers: list[dict[str, Any]] = [dict(server) for server in settings.SPACES_ICE_SERVERS]
    if settings.TURN_SECRET and settings.TURN_URLS:
        username, credential = turn_credentials(settings.TURN_SECRET, user_id, settings.TURN_TTL, now)
        urls = list(settings.TURN_URLS)
        servers.append({"urls": urls, "username": username, "credential": credential})
    return servers
