"""Abuse limits on the room's sockets, counted in memory before anything touches the database.

One Guard per event loop (a Daphne process has one):

- sockets: at most SPACES_MAX_SOCKETS_PER_USER open sockets per logged-in user, and
  SPACES_MAX_SOCKETS_PER_IP per client address for anonymous visitors, in this process;
- a message budget per user (per address for anonymous visitors), shared by all their sockets in this
  process: SPACES_MESSAGES_PER_USER per RATE_WINDOW seconds, refilled continuously (a token bucket).
  Opening a socket costs one message too, so reconnecting in a loop is held back as well.

A flood from one account then costs the database at most that budget, however many sockets it opens,
and the host's own actions don't queue behind it on the database thread. The HTTP fallback counts the
same budget in the Django cache (live.views), shared by every process.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import Counter
from dataclasses import dataclass

from django.conf import settings

from . import protocol

PRUNE_EVERY = 60.0  # seconds between dropping full buckets nobody uses

Key = tuple[str, object]  # ("user", id) or ("ip", address)


def budget_key(user_id: int | None, address: str | None) -> Key | None:
    """Whose budget a socket spends: its user's, else its address's (None: not attributable)."""
    if user_id is not None:
        return ("user", user_id)
    return ("ip", address) if address else None


@dataclass
class Bucket:
    tokens: float
    at: float


class Guard:
    def __init__(self, *, per_user: int, per_ip: int, budget: int, window: float) -> None:
        self.per_user, self.per_ip = per_user, per_ip
        self.budget, self.refill = budget, budget / window
        self.sockets: Counter[Key] = Counter()
        self.buckets: dict[Key, Bucket] = {}
        self.pruned_at = time.monotonic()

    def admit(self, user_id: int | None, address: str | None) -> str | None:
        """Count a new socket in, or say why not. Call `release` with the same arguments when it ends."""
        key = budget_key(user_id, address)
        if key is None:
            return None
        cap = self.per_user if key[0] == "user" else self.per_ip
        if cap > 0 and self.sockets[key] >= cap:
            whose = "your account" if key[0] == "user" else "your network address"
            return f"Too many connections from {whose}: close another tab or window first."
        if not self.spend(key):
            return "Slow down: too many connections."
        self.sockets[key] += 1
        return None

    def release(self, user_id: int | None, address: str | None) -> None:
        key = budget_key(user_id, address)
        if key is None or self.sockets[key] <= 0:
            return
        self.sockets[key] -= 1
        if not self.sockets[key]:
            del self.sockets[key]

    def spend(self, key: Key | None) -> bool:
        """Take one message from the key's budget; False when it is spent."""
        if key is None or self.budget <= 0:
            return True
        now = time.monotonic()
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(float(self.budget), now)
        else:
            bucket.tokens = min(float(self.budget), bucket.tokens + (now - bucket.at) * self.refill)
            bucket.at = now
        if now - self.pruned_at > PRUNE_EVERY:
            self._prune(now)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _prune(self, now: float) -> None:
        # A bucket that has refilled and has no socket is no different from a missing one.
        self.pruned_at = now
        for key, bucket in list(self.buckets.items()):
            if key not in self.sockets and bucket.tokens + (now - bucket.at) * self.refill >= self.budget:
                del self.buckets[key]


_guards: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Guard] = weakref.WeakKeyDictionary()


def guard() -> Guard:
    """This event loop's guard, with the limits from settings."""
    loop = asyncio.get_running_loop()
    found = _guards.get(loop)
    if found is None:
        found = _guards[loop] = Guard(
            per_user=settings.SPACES_MAX_SOCKETS_PER_USER,
            per_ip=settings.SPACES_MAX_SOCKETS_PER_IP,
            budget=settings.SPACES_MESSAGES_PER_USER,
            window=protocol.RATE_WINDOW,
        )
    return found


def client_address(scope: dict) -> str | None:
    """The client's address from the ASGI scope. Behind a proxy, Daphne must run with --proxy-headers
    (it then puts X-Forwarded-For here); otherwise every visitor has the proxy's address."""
    client = scope.get("client")
    return str(client[0]) if client else None
