"""Caps on the peer connections one engine holds, counted in memory before a connection is made.

Every offer the engine answers holds a peer connection (UDP sockets, DTLS state, a task or two) until
ICE completes or CONNECT_TIMEOUT passes. Unbounded, a flood of anonymous offers exhausts the worker's
file descriptors and its audio fails for everyone. So:

- per socket: one peer. A new offer from the same room socket replaces that socket's old peer (the
  client renegotiates after a network change or a move to the stage);
- per owner: a logged-in user's new offer in a room replaces their old peer there (another tab takes
  over); across rooms a user holds at most `per_user` peers on this engine; an anonymous visitor's
  peers count against their network address, at most `per_ip`;
- per engine: at most `per_worker` peers. Listeners are refused a little earlier (`stage_reserve`
  before the cap), so a flood of listeners never keeps the host and speakers off their own stage.

Offers being negotiated count as peers already (`Admission`), so a burst of concurrent offers cannot
slip past a cap while each one waits on the database or on aiortc.
"""

from __future__ import annotations

import resource
import time
from collections import Counter
from dataclasses import dataclass

Owner = tuple[str, object]  # ("user", id) or ("ip", address)

# File descriptors a peer holds (its UDP socket per candidate, DTLS); the engine keeps this many for itself.
FDS_PER_PEER = 3
FDS_RESERVED = 256


def owner_of(user_id: int | None, address: str | None) -> Owner | None:
    """Whose quota a peer spends: its user's, else its network address's (None: not attributable)."""
    if user_id is not None:
        return ("user", user_id)
    return ("ip", address) if address else None


def fd_budget() -> int:
    """How many peers this process's open-file limit can hold, with room to spare for the rest."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(1, (soft - FDS_RESERVED) // FDS_PER_PEER)


@dataclass(frozen=True)
class PeerCaps:
    """0 turns a cap off (the descriptor budget still applies to the engine)."""

    per_user: int = 4
    per_ip: int = 32
    per_worker: int = 2000
    stage_reserve: int = 20
    # Admission control: past this share of a core used by the engine's process, new listeners are refused
    # (people on stage still get on) and placement puts new rooms on other workers.
    cpu_budget: float = 0.0  # SPACES_MEDIA_CPU_BUDGET (0.8) in the site; off for an engine made by hand

    @classmethod
    def from_settings(cls) -> PeerCaps:
        from django.conf import settings

        return cls(
            per_user=settings.SPACES_MEDIA_PEERS_PER_USER,
            per_ip=settings.SPACES_MEDIA_PEERS_PER_IP,
            per_worker=settings.SPACES_MEDIA_MAX_PEERS,
            cpu_budget=settings.SPACES_MEDIA_CPU_BUDGET,
        )

    def worker_cap(self) -> int:
        budget = fd_budget()
        return min(self.per_worker, budget) if self.per_worker > 0 else budget


FULL = "The audio server is full right now. Try again in a minute."
BUSY = "The audio server is busy right now. Try again in a minute."
TOO_MANY_FOR_USER = "Too many audio connections from your account: close another tab or window first."
TOO_MANY_FOR_IP = "Too many audio connections from your network address right now."


class PeerLimits:
    """Counts peers (and offers in negotiation) per owner and in total."""

    def __init__(self, caps: PeerCaps | None = None) -> None:
        self.caps = caps or PeerCaps()
        self.worker_cap = self.caps.worker_cap()
        self.by_owner: Counter[Owner] = Counter()
        self.total = 0
        self.refused = 0  # for /metrics and the tests
        self.cpu = CpuLoad()

    def busy(self) -> bool:
        """The engine is near its CPU budget: admit no new listener."""
        return 0 < self.caps.cpu_budget <= self.cpu.share

    def admit(self, owner: Owner | None, *, replacing: int = 0, on_stage: bool = False) -> Admission:
        """Reserve a place for a new peer, or raise Refused. `replacing` peers of the same owner
        close when this one is made, so they do not count against it."""
        cap = self.worker_cap if on_stage else max(1, self.worker_cap - self.caps.stage_reserve)
        reason = None
        per_owner = 0
        if owner is not None:
            per_owner = self.caps.per_user if owner[0] == "user" else self.caps.per_ip
        if self.total - replacing >= cap:
            reason = FULL
        elif owner is not None and per_owner > 0 and self.by_owner[owner] - replacing >= per_owner:
            reason = TOO_MANY_FOR_USER if owner[0] == "user" else TOO_MANY_FOR_IP
        elif not on_stage and self.busy():
            reason = BUSY
        if reason is not None:
            self.refused += 1
            raise Refused(reason)
        self.total += 1
        if owner is not None:
            self.by_owner[owner] += 1
        return Admission(self, owner)

    def _release(self, owner: Owner | None) -> None:
        self.total -= 1
        if owner is not None:
            self.by_owner[owner] -= 1
            if self.by_owner[owner] <= 0:
                del self.by_owner[owner]


class Refused(Exception):
    """No room for another peer; str() is fit to show."""


class Admission:
    """One peer's place in the counts, held from the offer until the peer closes. Idempotent release."""

    __slots__ = ("_limits", "owner", "_held")

    def __init__(self, limits: PeerLimits, owner: Owner | None) -> None:
        self._limits = limits
        self.owner = owner
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limits._release(self.owner)


class CpuLoad:
    """How loaded the engine is: the larger of its process's share of a core (process CPU over wall time)
    and its clock's duty cycle (the share of wall time spent in ticks, which nears 1 when the machine gives
    the process less than it needs), over the last second or so.

    Sampled by the clock every PERIOD: reading a CPU clock is a system call, slow in some sandboxes (~0.4 ms
    here), so never once per tick; the ticks themselves are timed with perf_counter (no system call)."""

    PERIOD = 0.25  # seconds between samples; the share follows a change within about a second

    def __init__(self) -> None:
        self.share = 0.0
        self._busy = 0.0
        self._cpu, self._wall = time.process_time(), time.monotonic()

    def ticked(self, seconds: float) -> None:
        self._busy += seconds

    def sample(self) -> None:
        cpu, wall = time.process_time(), time.monotonic()
        elapsed = wall - self._wall
        if elapsed > 0.1:
            now = max((cpu - self._cpu) / elapsed, self._busy / elapsed)
            self.share = 0.3 * self.share + 0.7 * min(1.0, now)
            self._cpu, self._wall, self._busy = cpu, wall, 0.0
