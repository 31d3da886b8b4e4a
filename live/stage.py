"""Every live-room action: request to speak, approve, invite, mute, remove, co-hosts, reactions, ...

One code path for the websocket consumer, the HTTP fallbacks (live.views) and the admin. Each
function checks the actor against the database as it is now (never a socket's idea of the user), changes
it in one transaction that holds the Space row (`select_for_update`: two approvals racing for the last
speaker seat queue here, and the second one finds the seats full), and broadcasts after commit.

Users are named by handle (the wire's `{"user": "alice"}`), or passed as User objects from Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from rooms.models import STAGE_ROLES as STAGE_ORDER
from rooms.models import Participant, Space
from rooms.services import RoomError
from rooms.services import end_space as _end_space

from . import events
from .access import entry_refusal

Role = Participant.Role
MODERATOR_ROLES = frozenset({Role.HOST, Role.COHOST})
STAGE_ROLES = frozenset(STAGE_ORDER)

# Twitter Spaces' reaction set.
REACTIONS = ("😂", "😲", "😢", "💜", "💯", "👏", "✊", "👍", "👎", "👋")
REACTION_BURST = 5  # per user and Space ...
REACTION_WINDOW = 5  # ... per this many seconds
MAX_REQUESTS_IN_SNAPSHOT = 200

AnyUser = User | AnonymousUser
Space_ = Space | int


# --- Reading ---------------------------------------------------------------------------------------


def public_participant(participant: Participant) -> dict:
    """How a person on stage (or asking to be) looks on the wire."""
    user = participant.user
    return {
        "user": user.handle,
        "user_id": user.pk,
        "name": user.name,
        "initials": user.initials,
        "hue": user.avatar_hue,
        "role": participant.role,
        "is_muted": participant.is_muted,
    }


def _space_id(space: Space_) -> int:
    return space.pk if isinstance(space, Space) else int(space)


def audible_user_ids(space_id: int) -> set[int]:
    """Users whose audio may be mixed now: host, co-hosts and speakers, unmuted and not removed."""
    return set(
        Participant.objects.filter(
            space_id=space_id,
            space__state=Space.State.LIVE,
            role__in=STAGE_ROLES,
            is_muted=False,
            removed_at__isnull=True,
        ).values_list("user_id", flat=True)
    )


def connect_refusal(space_id: int, user: AnyUser) -> str | None:
    """Why `user` may not open the room's socket, or None."""
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return "This Space doesn't exist."
    return entry_refusal(space, user)


def snapshot(space: Space_, user: AnyUser) -> dict:
    """The room as `user` should see it now, numbered with the seq of the last delta it includes."""
    space_id = _space_id(space)
    # Read the seq before the database: a delta committed in between is then both in the snapshot and
    # delivered after it, and deltas are idempotent, so nothing is lost.
    seq = events.current_seq(space_id)
    space = Space.objects.select_related("host").get(pk=space_id)
    on_stage = sorted(
        Participant.objects.filter(space=space, role__in=STAGE_ROLES, removed_at__isnull=True).select_related("user"),
        key=lambda p: (STAGE_ORDER.index(p.role), p.pk),
    )
    me = None
    if user.is_authenticated:
        me = Participant.objects.filter(space=space, user_id=user.pk).select_related("user").first()
    my_role = _role_of(space, user.pk, me) if user.is_authenticated else None
    requests: list[dict] = []
    invites: list[dict] = []
    if my_role in MODERATOR_ROLES:
        pending = Participant.objects.filter(space=space, role=Role.LISTENER, removed_at__isnull=True)
        for p in (
            pending.filter(requested_at__isnull=False)
            .select_related("user")
            .order_by("requested_at")[:MAX_REQUESTS_IN_SNAPSHOT]
        ):
            requests.append({**public_participant(p), "requested_at": p.requested_at.isoformat()})
        for p in pending.filter(invited_at__isnull=False).select_related("user").order_by("invited_at"):
            invites.append({**public_participant(p), "invited_at": p.invited_at.isoformat()})
    return {
        "event": "snapshot",
        "seq": seq,
        "space": {
            "id": space.pk,
            "title": space.title,
            "description": space.description,
            "state": space.state,
            "host": space.host.handle,
            "host_id": space.host_id,
            "started_at": space.started_at.isoformat() if space.started_at else None,
            "is_ticketed": space.is_ticketed,
        },
        "me": None
        if not user.is_authenticated
        else {
            "user": user.handle,
            "user_id": user.pk,
            "role": my_role,
            "is_muted": me.is_muted if me and my_role in STAGE_ROLES else True,
            "requested": bool(me and me.requested_at and my_role == Role.LISTENER),
            "invited": bool(me and me.invited_at and my_role == Role.LISTENER),
        },
        "speakers": [public_participant(p) for p in on_stage],
        "requests": requests,
        "invites": invites,
        "listener_count": space.listener_count,
        "limits": {"cohosts": settings.SPACES_MAX_COHOSTS, "speakers": settings.SPACES_MAX_SPEAKERS},
        "reactions": list(REACTIONS),
    }


# --- Checks ----------------------------------------------------------------------------------------


@dataclass
class _Room:
    space: Space
    actor: User
    me: Participant | None
    role: str = field(default=Role.LISTENER)

    @property
    def is_moderator(self) -> bool:
        return self.role in MODERATOR_ROLES


def _role_of(space: Space, user_id: int, participant: Participant | None) -> str:
    if participant is not None and participant.removed_at is None:
        return participant.role
    # A host whose row is missing is still the host (the Space row says so).
    return Role.HOST if user_id == space.host_id else Role.LISTENER


def _enter(space: Space_, actor: AnyUser, *, lock: bool = True) -> _Room:
    """The actor as the database sees them now; must run inside transaction.atomic() when locking."""
    if not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    actor = User.objects.filter(pk=actor.pk, is_active=True).first()
    if actor is None:
        raise RoomError("This account is not active.")
    spaces = Space.objects.select_for_update() if lock else Space.objects
    current = spaces.filter(pk=_space_id(space)).first()
    if current is None:
        raise RoomError("This Space doesn't exist.")
    refusal = entry_refusal(current, actor)
    if refusal:
        raise RoomError(refusal)
    me = Participant.objects.filter(space=current, user=actor).select_related("user").first()
    return _Room(current, actor, me, _role_of(current, actor.pk, me))


def _need_moderator(room: _Room) -> None:
    if not room.is_moderator:
        raise RoomError("Only the host and co-hosts can do that.")


def _need_host(room: _Room, what: str) -> None:
    if room.role != Role.HOST:
        raise RoomError(f"Only the host can {what}.")


def _user(user: str | User) -> User:
    if isinstance(user, User):
        return user
    handle = str(user).lstrip("@")
    found = User.objects.filter(handle__iexact=handle).first()
    if found is None:
        raise RoomError(f"There's no @{handle}.")
    return found


def _target(room: _Room, user: str | User) -> tuple[User, Participant]:
    """The user an action is about, with their (possibly new) row in this Space."""
    target = _user(user)
    participant, _ = Participant.objects.select_related("user").get_or_create(
        space=room.space, user=target, defaults={"role": _role_of(room.space, target.pk, None)}
    )
    return target, participant


def _mine(room: _Room) -> Participant:
    if room.me is None:
        room.me, _ = Participant.objects.select_related("user").get_or_create(
            space=room.space, user=room.actor, defaults={"role": room.role}
        )
    return room.me


def _has_speaker_seat(space: Space) -> bool:
    taken = Participant.objects.filter(space=space, role=Role.SPEAKER, removed_at__isnull=True).count()
    return taken < settings.SPACES_MAX_SPEAKERS


def _check_speaker_seat(space: Space) -> None:
    if not _has_speaker_seat(space):
        raise RoomError(f"All {settings.SPACES_MAX_SPEAKERS} speaker seats are taken.")


# --- Broadcasting ----------------------------------------------------------------------------------


def _moderators_and(*user_ids: int) -> dict:
    return {"moderators": True, "user_ids": list(user_ids)}


def _role_changed(space: Space, participant: Participant, previous: str) -> None:
    events.broadcast_on_commit(space.pk, "role_changed", {**public_participant(participant), "previous_role": previous})


def _pending_removed(space: Space, participant: Participant, event: str, reason: str) -> None:
    """`request_removed` or `invite_removed`: only moderators and the person themself saw it pending."""
    user = participant.user
    events.broadcast_on_commit(
        space.pk,
        event,
        {"user": user.handle, "user_id": user.pk, "reason": reason},
        audience=_moderators_and(user.pk),
    )


def _request_removed(space: Space, participant: Participant, reason: str) -> None:
    _pending_removed(space, participant, "request_removed", reason)


def _invite_removed(space: Space, participant: Participant, reason: str) -> None:
    _pending_removed(space, participant, "invite_removed", reason)


def _to_stage(room: _Room, participant: Participant, role: str = Role.SPEAKER) -> None:
    """Move a listener to the stage (muted: new speakers unmute themselves), clearing what was pending."""
    previous = participant.role
    had_request, had_invite = participant.requested_at is not None, participant.invited_at is not None
    participant.role, participant.is_muted = role, True
    participant.requested_at = participant.invited_at = None
    participant.save()
    if had_request:
        _request_removed(room.space, participant, "approved")
    if had_invite:
        _invite_removed(room.space, participant, "accepted")
    _role_changed(room.space, participant, previous)


def _to_listener(room: _Room, participant: Participant) -> None:
    previous = participant.role
    participant.role, participant.is_muted = Role.LISTENER, True
    participant.save()
    _role_changed(room.space, participant, previous)


# --- Actions ---------------------------------------------------------------------------------------


def request_to_speak(space: Space_, actor: AnyUser) -> None:
    """A listener raises a hand. Asking twice is the same request."""
    with transaction.atomic():
        room = _enter(space, actor)
        if room.role != Role.LISTENER:
            raise RoomError("You're already on stage.")
        me = _mine(room)
        if me.requested_at is not None:
            return
        me.requested_at = timezone.now()
        me.save()
        events.broadcast_on_commit(
            room.space.pk,
            "request_added",
            {**public_participant(me), "requested_at": me.requested_at.isoformat()},
            audience=_moderators_and(me.user_id),
        )


def cancel_request(space: Space_, actor: AnyUser) -> None:
    with transaction.atomic():
        room = _enter(space, actor)
        if room.me is None or room.me.requested_at is None or room.role != Role.LISTENER:
            raise RoomError("You haven't asked to speak.")
        room.me.requested_at = None
        room.me.save()
        _request_removed(room.space, room.me, "cancelled")


def approve_request(space: Space_, actor: AnyUser, user: str | User) -> None:
    with transaction.atomic():
        room = _enter(space, actor)
        _need_moderator(room)
        target, participant = _target(room, user)
        if participant.removed_at is not None or participant.role != Role.LISTENER or not participant.requested_at:
            raise RoomError(f"@{target.handle} hasn't asked to speak.")
        _check_speaker_seat(room.space)
        _to_stage(room, participant)


def deny_request(space: Space_, actor: AnyUser, user: str | User) -> None:
    with transaction.atomic():
        room = _enter(space, actor)
        _need_moderator(room)
        target, participant = _target(room, user)
        if participant.requested_at is None or participant.role != Role.LISTENER:
            raise RoomError(f"@{target.handle} hasn't asked to speak.")
        participant.requested_at = None
        participant.save()
        _request_removed(room.space, participant, "denied")


def invite_to_speak(space: Space_, actor: AnyUser, user: str | User) -> None:
    with transaction.atomic():
        room = _enter(space, actor)
        _need_moderator(room)
        target, participant = _target(room, user)
        if participant.removed_at is not None:
            raise RoomError(f"@{target.handle} was removed from this Space.")
        if participant.role != Role.LISTENER:
            raise RoomError(f"@{target.handle} is already on stage.")
        if participant.invited_at is not None:
            return
        _check_speaker_seat(room.space)
        participant.invited_at = timezone.now()
        participant.save()
        events.broadcast_on_commit(
            room.space.pk,
            "invite_added",
            {
                **public_participant(participant),
                "invited_at": participant.invited_at.isoformat(),
                "by": room.actor.handle,
            },
            audience=_moderators_and(target.pk),
        )


def accept_invite(space: Space_, actor: AnyUser) -> None:
    with transaction.atomic():
        room = _enter(space, actor)
        if room.role != Role.LISTENER or room.me is None or room.me.invited_at is None:
            raise RoomError("You don't have an invitation to speak.")
        _check_speaker_seat(room.space)
        _to_stage(room, room.me)


def decline_invite(space: Space_, actor: AnyUser) -> None:
    with transaction.atomic():
        room = _enter(space, actor)
        if room.role != Role.LISTENER or room.me is None or room.me.invited_at is None:
            raise RoomError("You don't have an invitation to speak.")
        room.me.invited_at = None
        room.me.save()
        _invite_removed(room.space, room.me, "declined")


def make_listener(space: Space_, actor: AnyUser, user: str | User | None = None) -> None:
    """Move a speaker back to the audience; anyone on stage but the host may step down themselves."""
    with transaction.atomic():
        room = _enter(space, actor)
        if user is None or _user(user).pk == room.actor.pk:
            if room.role == Role.HOST:
                raise RoomError("Hand the host role to a co-host before you leave the stage.")
            if room.role not in STAGE_ROLES:
                raise RoomError("You're not on stage.")
            _to_listener(room, _mine(room))
            return
        _need_moderator(room)
        target, participant = _target(room, user)
        if participant.role == Role.HOST:
            raise RoomError("The host can't be moved off the stage.")
        if participant.role == Role.COHOST and room.role != Role.HOST:
            raise RoomError("Only the host can remove a co-host.")
        if participant.role not in STAGE_ROLES:
            raise RoomError(f"@{target.handle} isn't on stage.")
        _to_listener(room, participant)


def mute(space: Space_, actor: AnyUser, user: str | User | None = None) -> None:
    """Mute yourself, or (host and co-hosts) someone on stage. Muting someone muted changes nothing."""
    with transaction.atomic():
        room = _enter(space, actor)
        if user is None or _user(user).pk == room.actor.pk:
            if room.role not in STAGE_ROLES:
                raise RoomError("You're not on stage.")
            participant = _mine(room)
        else:
            _need_moderator(room)
            target, participant = _target(room, user)
            if participant.role not in STAGE_ROLES or participant.removed_at is not None:
                raise RoomError(f"@{target.handle} isn't on stage.")
            if participant.role == Role.HOST and room.role != Role.HOST:
                raise RoomError("Co-hosts can't mute the host.")
        if participant.is_muted:
            return
        participant.is_muted = True
        participant.save()
        events.broadcast_on_commit(
            room.space.pk,
            "speaker_muted",
            {
                "user": participant.user.handle,
                "user_id": participant.user_id,
                "is_muted": True,
                "by": room.actor.handle,
            },
        )


def unmute(space: Space_, actor: AnyUser, user: str | User | None = None) -> None:
    """Unmute yourself. Nobody can unmute someone else, not even the host."""
    with transaction.atomic():
        room = _enter(space, actor)
        if user is not None and _user(user).pk != room.actor.pk:
            raise RoomError("Nobody can unmute someone else.")
        if room.role not in STAGE_ROLES:
            raise RoomError("You're not on stage.")
        participant = _mine(room)
        if not participant.is_muted:
            return
        participant.is_muted = False
        participant.save()
        events.broadcast_on_commit(
            room.space.pk,
            "speaker_unmuted",
            {"user": participant.user.handle, "user_id": participant.user_id, "is_muted": False},
        )


def remove(space: Space_, actor: AnyUser, user: str | User) -> None:
    """Remove someone from the Space: their sockets close and they may not come back."""
    with transaction.atomic():
        room = _enter(space, actor)
        _need_moderator(room)
        target, participant = _target(room, user)
        if target.pk == room.actor.pk:
            raise RoomError("You can't remove yourself; leave the Space instead.")
        if participant.role == Role.HOST or target.pk == room.space.host_id:
            raise RoomError("The host can't be removed.")
        if participant.role == Role.COHOST and room.role != Role.HOST:
            raise RoomError("Only the host can remove a co-host.")
        if participant.removed_at is not None:
            return
        previous = participant.role
        participant.role, participant.is_muted = Role.LISTENER, True
        participant.requested_at = participant.invited_at = None
        participant.removed_at = timezone.now()
        participant.save()
        events.broadcast_on_commit(
            room.space.pk,
            "removed",
            {"user": target.handle, "user_id": target.pk, "previous_role": previous, "by": room.actor.handle},
        )


def add_cohost(space: Space_, actor: AnyUser, user: str | User) -> None:
    with transaction.atomic():
        room = _enter(space, actor)
        _need_host(room, "add co-hosts")
        target, participant = _target(room, user)
        if participant.removed_at is not None:
            raise RoomError(f"@{target.handle} was removed from this Space.")
        if participant.role in (Role.HOST, Role.COHOST):
            raise RoomError(f"@{target.handle} is already a {participant.get_role_display().lower()}.")
        cohosts = Participant.objects.filter(space=room.space, role=Role.COHOST, removed_at__isnull=True).count()
        if cohosts >= settings.SPACES_MAX_COHOSTS:
            raise RoomError(f"A Space has at most {settings.SPACES_MAX_COHOSTS} co-hosts.")
        if participant.role == Role.SPEAKER:
            previous = participant.role
            participant.role = Role.COHOST
            participant.save()
            _role_changed(room.space, participant, previous)
        else:
            _to_stage(room, participant, Role.COHOST)


def remove_cohost(space: Space_, actor: AnyUser, user: str | User) -> None:
    """The host takes the co-host role back: they stay on stage as a speaker if a seat is free."""
    with transaction.atomic():
        room = _enter(space, actor)
        _need_host(room, "remove co-hosts")
        target, participant = _target(room, user)
        if participant.role != Role.COHOST:
            raise RoomError(f"@{target.handle} isn't a co-host.")
        if _has_speaker_seat(room.space):
            previous = participant.role
            participant.role = Role.SPEAKER
            participant.save()
            _role_changed(room.space, participant, previous)
        else:
            _to_listener(room, participant)


def transfer_host(space: Space_, actor: AnyUser, user: str | User) -> None:
    """Hand the Space to a co-host; the old host stays on as a co-host."""
    with transaction.atomic():
        room = _enter(space, actor)
        _need_host(room, "hand over the Space")
        target, participant = _target(room, user)
        if participant.role != Role.COHOST:
            raise RoomError("You can hand the Space only to a co-host.")
        if Space.objects.live().filter(host=target).exclude(pk=room.space.pk).exists():
            raise RoomError(f"@{target.handle} is hosting another live Space.")
        me = _mine(room)
        # The old host's row first: only one host row may exist at a time.
        me.role = Role.COHOST
        me.save()
        participant.role = Role.HOST
        participant.save()
        room.space.host = target
        room.space.save(update_fields=["host"])
        _role_changed(room.space, me, Role.HOST)
        _role_changed(room.space, participant, Role.COHOST)


def end_space(space: Space_, actor: AnyUser) -> None:
    """End the Space (host only): rooms.services does it and broadcasts `space_ended`."""
    room_space = Space.objects.filter(pk=_space_id(space)).first()
    if room_space is None:
        raise RoomError("This Space doesn't exist.")
    if not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    _end_space(room_space, actor)


def react(space: Space_, actor: AnyUser, emoji: str) -> None:
    """Send a reaction to the room: one of REACTIONS, at most REACTION_BURST per REACTION_WINDOW seconds."""
    if emoji not in REACTIONS:
        raise RoomError("That reaction isn't available.")
    room = _enter(space, actor, lock=False)
    # A window that opens with the first reaction and closes REACTION_WINDOW seconds later.
    key = f"react:{room.space.pk}:{room.actor.pk}"
    cache.add(key, 0, timeout=REACTION_WINDOW)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        count = 1
    if count > REACTION_BURST:
        raise RoomError("Slow down: too many reactions.")
    events.broadcast_volatile(
        room.space.pk, "reaction", {"user": room.actor.handle, "user_id": room.actor.pk, "emoji": emoji}
    )


# --- The table every caller dispatches through ------------------------------------------------------


@dataclass(frozen=True)
class Action:
    function: Callable[..., None]
    # Argument name -> is it required? Every argument is a string on the wire.
    arguments: dict[str, bool] = field(default_factory=dict)


ACTIONS: dict[str, Action] = {
    "request_to_speak": Action(request_to_speak),
    "cancel_request": Action(cancel_request),
    "approve_request": Action(approve_request, {"user": True}),
    "deny_request": Action(deny_request, {"user": True}),
    "invite_to_speak": Action(invite_to_speak, {"user": True}),
    "accept_invite": Action(accept_invite),
    "decline_invite": Action(decline_invite),
    "make_listener": Action(make_listener, {"user": False}),
    "mute": Action(mute, {"user": False}),
    "unmute": Action(unmute, {"user": False}),
    "remove": Action(remove, {"user": True}),
    "add_cohost": Action(add_cohost, {"user": True}),
    "remove_cohost": Action(remove_cohost, {"user": True}),
    "transfer_host": Action(transfer_host, {"user": True}),
    "end_space": Action(end_space),
    "react": Action(react, {"emoji": True}),
}
