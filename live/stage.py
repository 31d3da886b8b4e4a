"""Every live-room action: request to speak, approve, invite, mute, remove, co-hosts, reactions, ...

One code path for the websocket consumer, the HTTP fallback (live.views) and the admin (live.admin).
Each function checks the actor against the database as it is now (never a socket's idea of the user),
changes it in one transaction that holds the Space row, and emits its deltas in that transaction
(numbered there, sent after commit: live.events.emit). `perform` runs a decoded protocol action.

Users are named by handle (the wire's `{"user": "alice"}`), or passed as User objects from Python.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from rooms.models import Participant, Space
from rooms.services import RoomError
from rooms.services import end_space as _end_space

from . import events, protocol
from .protocol import events as ev
from .seats import (
    Seat,
    check_cohost_seat,
    check_speaker_seat,
    enter,
    has_speaker_seat,
    is_self,
    mine,
    need_host,
    need_moderator,
    target,
)
from .state import (  # noqa: F401  (audible_user_ids, connect_refusal and snapshot are read from here)
    MODERATOR_ROLES,
    STAGE_ROLES,
    AnyUser,
    SpaceRef,
    audible_user_ids,
    connect_refusal,
    person_fields,
    snapshot,
    space_id_of,
)

Role = Participant.Role
UserRef = str | User

# --- Deltas ------------------------------------------------------------------------------------------


def _role_changed(seat: Seat, participant: Participant, previous: str) -> None:
    events.emit(seat.space.pk, ev.RoleChanged(**person_fields(participant), previous_role=previous))


def _request_removed(seat: Seat, participant: Participant, reason: str) -> None:
    user = participant.user
    events.emit(seat.space.pk, ev.RequestRemoved(user=user.handle, user_id=user.pk, reason=reason))


def _invite_removed(seat: Seat, participant: Participant, reason: str) -> None:
    user = participant.user
    events.emit(seat.space.pk, ev.InviteRemoved(user=user.handle, user_id=user.pk, reason=reason))


def _to_stage(seat: Seat, participant: Participant, role: str = Role.SPEAKER) -> None:
    """Move a listener to the stage (muted: new speakers unmute themselves), clearing what was pending."""
    previous = participant.role
    had_request, had_invite = participant.requested_at is not None, participant.invited_at is not None
    participant.role, participant.is_muted = role, True
    participant.requested_at = participant.invited_at = None
    participant.save()
    if had_request:
        _request_removed(seat, participant, "approved")
    if had_invite:
        _invite_removed(seat, participant, "accepted")
    _role_changed(seat, participant, previous)


def _to_listener(seat: Seat, participant: Participant) -> None:
    previous = participant.role
    participant.role, participant.is_muted = Role.LISTENER, True
    participant.save()
    _role_changed(seat, participant, previous)


# --- Asking to speak -----------------------------------------------------------------------------


def request_to_speak(space: SpaceRef, actor: AnyUser) -> None:
    """A listener raises a hand. Asking twice is the same request."""
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.role != Role.LISTENER:
            raise RoomError("You're already on stage.")
        me = mine(seat)
        if me.requested_at is not None:
            return
        me.requested_at = timezone.now()
        me.save()
        events.emit(seat.space.pk, ev.RequestAdded(**person_fields(me), requested_at=me.requested_at.isoformat()))


def cancel_request(space: SpaceRef, actor: AnyUser) -> None:
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.me is None or seat.me.requested_at is None or seat.role != Role.LISTENER:
            raise RoomError("You haven't asked to speak.")
        seat.me.requested_at = None
        seat.me.save()
        _request_removed(seat, seat.me, "cancelled")


def approve_request(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        found, participant = target(seat, user)
        if participant.removed_at is not None or participant.role != Role.LISTENER or not participant.requested_at:
            raise RoomError(f"@{found.handle} hasn't asked to speak.")
        check_speaker_seat(seat.space)
        _to_stage(seat, participant)


def deny_request(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        found, participant = target(seat, user)
        if participant.requested_at is None or participant.role != Role.LISTENER:
            raise RoomError(f"@{found.handle} hasn't asked to speak.")
        participant.requested_at = None
        participant.save()
        _request_removed(seat, participant, "denied")


def invite_to_speak(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        found, participant = target(seat, user)
        if participant.removed_at is not None:
            raise RoomError(f"@{found.handle} was removed from this Space.")
        if participant.role != Role.LISTENER:
            raise RoomError(f"@{found.handle} is already on stage.")
        if participant.invited_at is not None:
            return
        check_speaker_seat(seat.space)
        participant.invited_at = timezone.now()
        participant.save()
        invited_at = participant.invited_at.isoformat()
        events.emit(
            seat.space.pk, ev.InviteAdded(**person_fields(participant), invited_at=invited_at, by=seat.actor.handle)
        )


def accept_invite(space: SpaceRef, actor: AnyUser) -> None:
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.role != Role.LISTENER or seat.me is None or seat.me.invited_at is None:
            raise RoomError("You don't have an invitation to speak.")
        check_speaker_seat(seat.space)
        _to_stage(seat, seat.me)


def decline_invite(space: SpaceRef, actor: AnyUser) -> None:
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.role != Role.LISTENER or seat.me is None or seat.me.invited_at is None:
            raise RoomError("You don't have an invitation to speak.")
        seat.me.invited_at = None
        seat.me.save()
        _invite_removed(seat, seat.me, "declined")


# --- On stage -------------------------------------------------------------------------------------


def make_listener(space: SpaceRef, actor: AnyUser, user: UserRef | None = None, *, as_staff: bool = False) -> None:
    """Move a speaker back to the audience; anyone on stage but the host may step down themselves."""
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        if is_self(seat, user):
            if seat.role == Role.HOST:
                raise RoomError("Hand the host role to a co-host before you leave the stage.")
            if seat.role not in STAGE_ROLES:
                raise RoomError("You're not on stage.")
            _to_listener(seat, mine(seat))
            return
        need_moderator(seat)
        found, participant = target(seat, user)  # type: ignore[arg-type]  (not None: is_self said so)
        if participant.role == Role.HOST:
            raise RoomError("The host can't be moved off the stage.")
        if participant.role == Role.COHOST and not seat.is_host:
            raise RoomError("Only the host can remove a co-host.")
        if participant.role not in STAGE_ROLES:
            raise RoomError(f"@{found.handle} isn't on stage.")
        _to_listener(seat, participant)


def mute(space: SpaceRef, actor: AnyUser, user: UserRef | None = None, *, as_staff: bool = False) -> None:
    """Mute yourself, or (host and co-hosts) someone on stage. Muting someone muted changes nothing."""
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        if is_self(seat, user):
            if seat.role not in STAGE_ROLES:
                raise RoomError("You're not on stage.")
            participant = mine(seat)
        else:
            need_moderator(seat)
            found, participant = target(seat, user)  # type: ignore[arg-type]
            if participant.role not in STAGE_ROLES or participant.removed_at is not None:
                raise RoomError(f"@{found.handle} isn't on stage.")
            if participant.role == Role.HOST and not seat.is_host:
                raise RoomError("Co-hosts can't mute the host.")
        if participant.is_muted:
            return
        participant.is_muted = True
        participant.save()
        events.emit(
            seat.space.pk,
            ev.SpeakerMuted(user=participant.user.handle, user_id=participant.user_id, by=seat.actor.handle),
        )


def unmute(space: SpaceRef, actor: AnyUser, user: UserRef | None = None) -> None:
    """Unmute yourself. Nobody can unmute someone else, not even the host (nor staff)."""
    with transaction.atomic():
        seat = enter(space, actor)
        if not is_self(seat, user):
            raise RoomError("Nobody can unmute someone else.")
        if seat.role not in STAGE_ROLES:
            raise RoomError("You're not on stage.")
        participant = mine(seat)
        if not participant.is_muted:
            return
        participant.is_muted = False
        participant.save()
        events.emit(seat.space.pk, ev.SpeakerUnmuted(user=participant.user.handle, user_id=participant.user_id))


def remove(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    """Remove someone from the Space: their sockets and audio close and they may not come back."""
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        found, participant = target(seat, user)
        if found.pk == seat.actor.pk:
            raise RoomError("You can't remove yourself; leave the Space instead.")
        if participant.role == Role.HOST or found.pk == seat.space.host_id:
            raise RoomError("The host can't be removed.")
        if participant.role == Role.COHOST and not seat.is_host:
            raise RoomError("Only the host can remove a co-host.")
        if participant.removed_at is not None:
            return
        previous = participant.role
        participant.role, participant.is_muted = Role.LISTENER, True
        participant.requested_at = participant.invited_at = None
        participant.removed_at = timezone.now()
        participant.save()
        events.emit(
            seat.space.pk,
            ev.Removed(user=found.handle, user_id=found.pk, previous_role=previous, by=seat.actor.handle),
        )


# --- Co-hosts and the host ---------------------------------------------------------------------------


def add_cohost(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_host(seat, "add co-hosts")
        found, participant = target(seat, user)
        if participant.removed_at is not None:
            raise RoomError(f"@{found.handle} was removed from this Space.")
        if participant.role in (Role.HOST, Role.COHOST):
            raise RoomError(f"@{found.handle} is already a {participant.get_role_display().lower()}.")
        check_cohost_seat(seat.space)
        if participant.role == Role.SPEAKER:
            previous = participant.role
            participant.role = Role.COHOST
            participant.save()
            _role_changed(seat, participant, previous)
        else:
            _to_stage(seat, participant, Role.COHOST)


def remove_cohost(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    """The host takes the co-host role back: they stay on stage as a speaker if a seat is free."""
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_host(seat, "remove co-hosts")
        found, participant = target(seat, user)
        if participant.role != Role.COHOST:
            raise RoomError(f"@{found.handle} isn't a co-host.")
        if has_speaker_seat(seat.space):
            previous = participant.role
            participant.role = Role.SPEAKER
            participant.save()
            _role_changed(seat, participant, previous)
        else:
            _to_listener(seat, participant)


def transfer_host(space: SpaceRef, actor: AnyUser, user: UserRef) -> None:
    """Hand the Space to a co-host; the old host stays on as a co-host."""
    with transaction.atomic():
        seat = enter(space, actor)
        need_host(seat, "hand over the Space")
        found, participant = target(seat, user)
        if participant.role != Role.COHOST:
            raise RoomError("You can hand the Space only to a co-host.")
        if Space.objects.live().filter(host=found).exclude(pk=seat.space.pk).exists():
            raise RoomError(f"@{found.handle} is hosting another live Space.")
        me = mine(seat)
        # The old host's row first: only one host row may exist at a time.
        me.role = Role.COHOST
        me.save()
        participant.role = Role.HOST
        participant.save()
        seat.space.host = found
        seat.space.save(update_fields=["host"])
        _role_changed(seat, me, Role.HOST)
        _role_changed(seat, participant, Role.COHOST)


def end_space(space: SpaceRef, actor: AnyUser) -> None:
    """End the Space (host only): rooms.services does it, and live.receivers emits `space_ended`."""
    found = Space.objects.filter(pk=space_id_of(space)).first()
    if found is None:
        raise RoomError("This Space doesn't exist.")
    if not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    _end_space(found, actor)  # type: ignore[arg-type]


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


# --- The table every caller dispatches through ------------------------------------------------------

# Protocol action -> stage function; the function takes the action's arguments by name.
STAGE_ACTIONS: dict[type[protocol.Action], Callable[..., None]] = {
    protocol.actions.RequestToSpeak: request_to_speak,
    protocol.actions.CancelRequest: cancel_request,
    protocol.actions.ApproveRequest: approve_request,
    protocol.actions.DenyRequest: deny_request,
    protocol.actions.InviteToSpeak: invite_to_speak,
    protocol.actions.AcceptInvite: accept_invite,
    protocol.actions.DeclineInvite: decline_invite,
    protocol.actions.MakeListener: make_listener,
    protocol.actions.Mute: mute,
    protocol.actions.Unmute: unmute,
    protocol.actions.Remove: remove,
    protocol.actions.AddCohost: add_cohost,
    protocol.actions.RemoveCohost: remove_cohost,
    protocol.actions.TransferHost: transfer_host,
    protocol.actions.EndSpace: end_space,
    protocol.actions.React: react,
}


def perform(space: SpaceRef, actor: AnyUser, action: protocol.Action) -> None:
    """Run one decoded stage action (not `snapshot` or `webrtc_offer`, which the consumer answers itself)."""
    if action.needs_login and not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    function = STAGE_ACTIONS.get(type(action))
    if function is None:
        raise RoomError("That isn't a stage action.")
    function(space, actor, **protocol.arguments(action))
