"""The room's basic terms: who counts as a moderator or on stage, how a user and a Space are named, and a
person's role in a Space. Everything in the live room builds on these (state, seats, chat, stage)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from rooms.models import STAGE_ROLES as STAGE_ORDER
from rooms.models import Participant, Space

Role = Participant.Role
MODERATOR_ROLES = frozenset({Role.HOST, Role.COHOST})
STAGE_ROLES = frozenset(STAGE_ORDER)

AnyUser = User | AnonymousUser
SpaceRef = Space | int


def space_id_of(space: SpaceRef) -> int:
    return space.pk if isinstance(space, Space) else int(space)


def role_of(space: Space, user_id: int, participant: Participant | None) -> str:
    if participant is not None and participant.removed_at is None:
        return participant.role
    # A host whose row is missing is still the host (the Space row says so).
    return Role.HOST if user_id == space.host_id else Role.LISTENER
