"""The checks every stage action starts with: who the actor is now, their role, the seats left.

live.stage's actions open a transaction, `enter` the room (locking the Space row, so two approvals
racing for the last seat queue here and the second finds the seats full), check, change, emit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from accounts.models import User
from rooms.models import Participant, Space
from rooms.services import RoomError

from .access import entry_refusal
from .roles import MODERATOR_ROLES, AnyUser, SpaceRef, role_of, space_id_of

Role = Participant.Role


@dataclass
class Seat:
    """The actor in the room, as the database sees them now."""

    space: Space
    actor: User
    me: Participant | None
    role: str = field(default=Role.LISTENER)
    # Staff acting from the admin: "who may" checks pass, every other rule (seats, the host stays) holds.
    as_staff: bool = False

    @property
    def is_moderator(self) -> bool:
        return self.as_staff or self.role in MODERATOR_ROLES

    @property
    def is_host(self) -> bool:
        return self.as_staff or self.role == Role.HOST


def enter(space: SpaceRef, actor: AnyUser, *, lock: bool = True, as_staff: bool = False) -> Seat:
    """The actor's seat; must run inside transaction.atomic() when locking."""
    if not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    user = User.objects.filter(pk=actor.pk, is_active=True).first()
    if user is None:
        raise RoomError("This account is not active.")
    if as_staff and not user.is_staff:
        raise RoomError("Only staff can do that.")
    spaces = Space.objects.select_for_update() if lock else Space.objects
    current = spaces.filter(pk=space_id_of(space)).first()
    if current is None:
        raise RoomError("This Space doesn't exist.")
    if as_staff:
        if not current.is_live:
            raise RoomError("This Space isn't live.")
    else:
        refusal = entry_refusal(current, user)
        if refusal:
            raise RoomError(refusal)
    me = Participant.objects.filter(space=current, user=user).select_related("user").first()
    return Seat(current, user, me, role_of(current, user.pk, me), as_staff)


def need_moderator(seat: Seat) -> None:
    if not seat.is_moderator:
        raise RoomError("Only the host and co-hosts can do that.")


def need_host(seat: Seat, what: str) -> None:
    if not seat.is_host:
        raise RoomError(f"Only the host can {what}.")


def user_named(user: str | User) -> User:
    if isinstance(user, User):
        return user
    handle = str(user).lstrip("@")
    found = User.objects.filter(handle__iexact=handle).first()
    if found is None:
        raise RoomError(f"There's no @{handle}.")
    return found


def target(seat: Seat, user: str | User) -> tuple[User, Participant]:
    """The user an action is about, with their (possibly new) row in this Space."""
    found = user_named(user)
    participant, _ = Participant.objects.select_related("user").get_or_create(
        space=seat.space, user=found, defaults={"role": role_of(seat.space, found.pk, None)}
    )
    return found, participant


def mine(seat: Seat) -> Participant:
    if seat.me is None:
        seat.me, _ = Participant.objects.select_related("user").get_or_create(
            space=seat.space, user=seat.actor, defaults={"role": seat.role}
        )
    return seat.me


def is_self(seat: Seat, user: str | User | None) -> bool:
    return user is None or user_named(user).pk == seat.actor.pk


def has_speaker_seat(space: Space) -> bool:
    taken = Participant.objects.filter(space=space, role=Role.SPEAKER, removed_at__isnull=True).count()
    return taken < settings.SPACES_MAX_SPEAKERS


def check_speaker_seat(space: Space) -> None:
    if not has_speaker_seat(space):
        raise RoomError(f"All {settings.SPACES_MAX_SPEAKERS} speaker seats are taken.")


def check_cohost_seat(space: Space) -> None:
    cohosts = Participant.objects.filter(space=space, role=Role.COHOST, removed_at__isnull=True).count()
    if cohosts >= settings.SPACES_MAX_COHOSTS:
        raise RoomError(f"A Space has at most {settings.SPACES_MAX_COHOSTS} co-hosts.")
