"""Every live-room action: request to speak, approve, invite, mute, remove, co-hosts, reactions, ...

One code path for the websocket consumer, the HTTP fallback (live.views) and the admin (live.admin).
Each function checks the actor against the database as it is now (never a socket's idea of the user),
changes it in one transaction that holds the Space row, and emits its deltas in that transaction
(numbered there, sent after commit: live.events.emit). `perform` runs a decoded protocol action.

Users are named by handle (the wire's `{"user": "alice"}`), or passed as User objects from Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from rooms.models import Participant, Space
from rooms.services import RoomError
from rooms.services import end_space as _end_space

from . import chat, events, modlog, moves, protocol, queue, reactions
from .protocol import events as ev
from .recording import record_my_voice, set_recording
from .seats import (
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
Log = modlog.Action
UserRef = str | User

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
        place = queue.position(me)
        assert place is not None  # a listener who has just asked
        added = ev.RequestAdded(**person_fields(me), requested_at=me.requested_at.isoformat(), position=place)
        events.emit(seat.space.pk, added)


def cancel_request(space: SpaceRef, actor: AnyUser) -> None:
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.me is None or seat.me.requested_at is None or seat.role != Role.LISTENER:
            raise RoomError("You haven't asked to speak.")
        asked, seat.me.requested_at = seat.me.requested_at, None
        seat.me.save()
        moves.request_removed(seat, seat.me, "cancelled", asked)


def approve_request(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        found, participant = target(seat, user)
        if participant.removed_at is not None or participant.role != Role.LISTENER or not participant.requested_at:
            raise RoomError(f"@{found.handle} hasn't asked to speak.")
        check_speaker_seat(seat.space)
        moves.to_stage(seat, participant)
        modlog.record_seat(seat, Log.APPROVE, found)


def deny_request(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        found, participant = target(seat, user)
        if participant.requested_at is None or participant.role != Role.LISTENER:
            raise RoomError(f"@{found.handle} hasn't asked to speak.")
        asked, participant.requested_at = participant.requested_at, None
        participant.save()
        moves.request_removed(seat, participant, "denied", asked)
        modlog.record_seat(seat, Log.DENY, found)


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
        modlog.record_seat(seat, Log.INVITE, found)
        events.emit(
            seat.space.pk, ev.InviteAdded(**person_fields(participant), invited_at=invited_at, by=seat.actor.handle)
        )


def accept_invite(space: SpaceRef, actor: AnyUser) -> None:
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.role != Role.LISTENER or seat.me is None or seat.me.invited_at is None:
            raise RoomError("You don't have an invitation to speak.")
        check_speaker_seat(seat.space)
        moves.to_stage(seat, seat.me)


def decline_invite(space: SpaceRef, actor: AnyUser) -> None:
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.role != Role.LISTENER or seat.me is None or seat.me.invited_at is None:
            raise RoomError("You don't have an invitation to speak.")
        seat.me.invited_at = None
        seat.me.save()
        moves.invite_removed(seat, seat.me, "declined")


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
            moves.to_listener(seat, mine(seat))
            return
        need_moderator(seat)
        assert user is not None  # is_self(seat, None) is True
        found, participant = target(seat, user)
        if participant.role == Role.HOST:
            raise RoomError("The host can't be moved off the stage.")
        if participant.role == Role.COHOST and not seat.is_host:
            raise RoomError("Only the host can remove a co-host.")
        if participant.role not in STAGE_ROLES:
            raise RoomError(f"@{found.handle} isn't on stage.")
        moves.to_listener(seat, participant)
        modlog.record_seat(seat, Log.MOVE_TO_AUDIENCE, found)


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
        modlog.record_seat(seat, Log.MUTE, participant.user)
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
        previous, asked = participant.role, participant.requested_at
        participant.role, participant.is_muted = Role.LISTENER, True
        participant.requested_at = participant.invited_at = None
        participant.removed_at = timezone.now()
        participant.save()
        queue.left(seat.space.pk, participant, asked)
        modlog.record_seat(seat, Log.REMOVE, found)
        events.emit(
            seat.space.pk,
            ev.Removed(
                user=found.handle, user_id=found.pk, previous_role=cast(protocol.Role, previous), by=seat.actor.handle
            ),
        )


def eject(space: SpaceRef, user: User, *, reason: ev.RemovalReason, by: str = "") -> bool:
    """The server takes `user` out of a live room (the host blocked them, their ticket was refunded, they
    were banned): the same `removed` delta as `remove`, so their sockets and audio close at once, with
    `reason`. Their row is not marked removed: what refuses them entry keeps them out, and undoing it
    (unblock, a new ticket) lets them back. The host is never ejected (a ban ends their Space instead).
    False when there was nothing to do."""
    with transaction.atomic():
        current = Space.objects.select_for_update().filter(pk=space_id_of(space)).first()
        if current is None or not current.is_live or user.pk == current.host_id:
            return False
        participant = Participant.objects.filter(space=current, user=user).first()
        if participant is not None and participant.removed_at is not None:
            return False  # removed already: their sockets closed then
        previous: str = Role.LISTENER
        if participant is not None:
            previous, asked = participant.role, participant.requested_at
            participant.role, participant.is_muted = Role.LISTENER, True
            participant.requested_at = participant.invited_at = None
            participant.save()
            queue.left(current.pk, participant, asked)
        role = cast(protocol.Role, previous)
        removed = ev.Removed(user=user.handle, user_id=user.pk, previous_role=role, by=by, reason=reason)
        events.emit(current.pk, removed)
        return True


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
        modlog.record_seat(seat, Log.ADD_COHOST, found)
        if participant.role == Role.SPEAKER:
            previous = participant.role
            participant.role = Role.COHOST
            participant.save()
            moves.role_changed(seat, participant, previous)
        else:
            moves.to_stage(seat, participant, Role.COHOST)


def remove_cohost(space: SpaceRef, actor: AnyUser, user: UserRef, *, as_staff: bool = False) -> None:
    """The host takes the co-host role back: they stay on stage as a speaker if a seat is free."""
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_host(seat, "remove co-hosts")
        found, participant = target(seat, user)
        if participant.role != Role.COHOST:
            raise RoomError(f"@{found.handle} isn't a co-host.")
        modlog.record_seat(seat, Log.REMOVE_COHOST, found)
        if has_speaker_seat(seat.space):
            previous = participant.role
            participant.role = Role.SPEAKER
            participant.save()
            moves.role_changed(seat, participant, previous)
        else:
            moves.to_listener(seat, participant)


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
        moves.role_changed(seat, me, Role.HOST)
        moves.role_changed(seat, participant, Role.COHOST)
        modlog.record_seat(seat, Log.TRANSFER_HOST, found)


def end_space(space: SpaceRef, actor: AnyUser) -> None:
    """End the Space (host only): rooms.services does it, and live.receivers emits `space_ended`."""
    found = Space.objects.filter(pk=space_id_of(space)).first()
    if found is None:
        raise RoomError("This Space doesn't exist.")
    if not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    _end_space(found, actor)


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
    protocol.actions.React: reactions.react,
    protocol.actions.SetRecording: set_recording,
    protocol.actions.RecordMyVoice: record_my_voice,
    protocol.actions.Chat: chat.chat,
    protocol.actions.DeleteMessage: chat.delete_message,
    protocol.actions.ChatMute: chat.chat_mute,
    protocol.actions.ChatUnmute: chat.chat_unmute,
    protocol.actions.SetChat: chat.set_chat,
    protocol.actions.Pin: chat.pin,
    protocol.actions.Unpin: chat.unpin,
}


def perform(space: SpaceRef, actor: AnyUser, action: protocol.Action) -> None:
    """Run one decoded stage action (not `snapshot` or `webrtc_offer`, which the consumer answers itself)."""
    if action.needs_login and not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    function = STAGE_ACTIONS.get(type(action))
    if function is None:
        raise RoomError("That isn't a stage action.")
    function(space, actor, **protocol.arguments(action))
