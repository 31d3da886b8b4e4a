"""Reactions: not a change to the room's state, so not a delta; coalesced by each process's hub."""

from __future__ import annotations

from django.core.cache import cache

from rooms.services import RoomError

from . import events, protocol
from .roles import AnyUser, SpaceRef
from .seats import enter


def react(space: SpaceRef, actor: AnyUser, emoji: str) -> None:
    """Send a reaction to the room: one of REACTIONS, at most REACTION_BURST per REACTION_WINDOW seconds."""
    if emoji not in protocol.REACTIONS:
        raise RoomError("That reaction isn't available.")
    seat = enter(space, actor, lock=False)
    # A window that opens with the first reaction and closes REACTION_WINDOW seconds later.
    key = f"react:{seat.space.pk}:{seat.actor.pk}"
    cache.add(key, 0, timeout=protocol.REACTION_WINDOW)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        count = 1
    if count > protocol.REACTION_BURST:
        raise RoomError("Slow down: too many reactions.")
    events.send_reaction(seat.space.pk, seat.actor.handle, seat.actor.pk, emoji)
