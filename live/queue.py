"""The queue of requests to speak as a requester sees it: their place in line (1 = the oldest request).

The host and co-hosts see every request (`requests`, oldest first). A requester sees only their own place:
`me.request_position` in the snapshot, `request_added.position` when they ask, and `queue_moved` when a
request ahead of theirs leaves the line (approved, denied, taken back, or its person removed). That delta
names nobody, so who else asked stays between them and the hosts.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from rooms.models import Participant

from . import events
from .protocol import events as ev


def _pending(space_id: int) -> QuerySet[Participant]:
    """Requests still waiting, as the hosts' list has them (live.state.snapshot)."""
    return Participant.objects.filter(
        space_id=space_id, role=Participant.Role.LISTENER, removed_at__isnull=True, requested_at__isnull=False
    )


def _before(requested_at: datetime, pk: int) -> Q:
    # Oldest first; two requests in the same microsecond go in row order.
    return Q(requested_at__lt=requested_at) | Q(requested_at=requested_at, pk__lt=pk)


def position(participant: Participant) -> int | None:
    """Where `participant`'s request stands (1-based), or None when they aren't asking."""
    if participant.requested_at is None or participant.removed_at is not None:
        return None
    if participant.role != Participant.Role.LISTENER:
        return None
    return 1 + _pending(participant.space_id).filter(_before(participant.requested_at, participant.pk)).count()


def left(space_id: int, participant: Participant, requested_at: datetime | None) -> None:
    """`participant`'s request, made at `requested_at`, has just left the queue (its row is saved without
    it): tell the room its place emptied, when anyone was behind it. In the caller's transaction."""
    if requested_at is None:
        return
    pending = _pending(space_id).exclude(pk=participant.pk)
    ahead = _before(requested_at, participant.pk)
    if not pending.exclude(ahead).exists():
        return  # it was the last in line: nobody moves
    events.emit(space_id, ev.QueueMoved(position=1 + pending.filter(ahead).count()))
