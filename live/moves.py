"""Moving someone on or off the stage, with the deltas that say so (emitted in the caller's transaction).

live.stage's actions share these; each is given the Seat the action holds (the Space row locked)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from rooms.models import Participant

from . import events, protocol, queue
from .protocol import events as ev
from .seats import Seat
from .state import person_fields

Role = Participant.Role


def role_changed(seat: Seat, participant: Participant, previous: str) -> None:
    previous_role = cast(protocol.Role, previous)  # a Participant.Role value
    events.emit(seat.space.pk, ev.RoleChanged(**person_fields(participant), previous_role=previous_role))


def request_removed(seat: Seat, participant: Participant, reason: ev.RequestEnd, asked: datetime | None) -> None:
    user = participant.user
    events.emit(seat.space.pk, ev.RequestRemoved(user=user.handle, user_id=user.pk, reason=reason))
    queue.left(seat.space.pk, participant, asked)  # those behind move up


def invite_removed(seat: Seat, participant: Participant, reason: ev.InviteEnd) -> None:
    user = participant.user
    events.emit(seat.space.pk, ev.InviteRemoved(user=user.handle, user_id=user.pk, reason=reason))


def to_stage(seat: Seat, participant: Participant, role: str = Role.SPEAKER) -> None:
    """Move a listener to the stage (muted: new speakers unmute themselves), clearing what was pending."""
    previous, asked = participant.role, participant.requested_at
    had_invite = participant.invited_at is not None
    participant.role, participant.is_muted = role, True
    participant.requested_at = participant.invited_at = None
    participant.save()
    if asked is not None:
        request_removed(seat, participant, "approved", asked)
    if had_invite:
        invite_removed(seat, participant, "accepted")
    role_changed(seat, participant, previous)


def to_listener(seat: Seat, participant: Participant) -> None:
    previous = participant.role
    participant.role, participant.is_muted = Role.LISTENER, True
    participant.save()
    role_changed(seat, participant, previous)
