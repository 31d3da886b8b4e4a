"""The room as it is now, read from the database: the snapshot, who is on stage, who may be heard."""

from __future__ import annotations

from importlib import import_module

import msgspec
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Block, User
from rooms.models import STAGE_ROLES as STAGE_ORDER
from rooms.models import Participant, Space

from . import chat, events, protocol, queue
from .access import entry_refusal
from .roles import (  # the room's basic terms, also read from here
    MODERATOR_ROLES,
    STAGE_ROLES,
    AnyUser,
    SpaceRef,
    role_of,
    space_id_of,
)

Role = Participant.Role


def person(participant: Participant) -> protocol.Person:
    """How someone on stage (or asking to be) looks on the wire."""
    user = participant.user
    return protocol.Person(
        user=user.handle,
        user_id=user.pk,
        name=user.name,
        initials=user.initials,
        hue=user.avatar_hue,
        role=participant.role,  # type: ignore[arg-type]
        is_muted=participant.is_muted,
        # The host's choice to record covers the host.
        record_voice=participant.record_voice or participant.role == Role.HOST,
    )


def person_fields(participant: Participant) -> dict:
    """The Person fields, to spread into the deltas that name someone (role_changed, request_added...)."""
    p = person(participant)
    return {
        "user": p.user,
        "user_id": p.user_id,
        "name": p.name,
        "initials": p.initials,
        "hue": p.hue,
        "role": p.role,
        "is_muted": p.is_muted,
        "record_voice": p.record_voice,
    }


def audible_user_ids(space_id: int) -> set[int]:
    """Users whose audio may be mixed now: host, co-hosts and speakers, unmuted and not removed. Never
    someone the host has blocked or a banned account, even before their ejection has run."""
    blocked_by_host = Block.objects.filter(blocker_id=OuterRef("space__host_id"), blocked_id=OuterRef("user_id"))
    return set(
        Participant.objects.filter(
            space_id=space_id,
            space__state=Space.State.LIVE,
            role__in=STAGE_ROLES,
            is_muted=False,
            removed_at__isnull=True,
            user__is_active=True,
        )
        .exclude(Exists(blocked_by_host))
        .values_list("user_id", flat=True)
    )


def connect_refusal(space_id: int, user: AnyUser) -> str | None:
    """Why `user` may not open the room's socket, or None."""
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return "This Space doesn't exist."
    return entry_refusal(space, user)


# Anonymous visitors all see the same room at a given seq: each process keeps the last such snapshot per
# Space, so a crowd arriving at once costs the database two small queries each instead of six. Every change a
# snapshot shows is a numbered delta, so a snapshot is current for as long as its seq is; the key also holds
# the Space's creation time, so a reused id (a test database rolled back) never finds another Space's room.
_ANONYMOUS_SNAPSHOTS: dict[int, tuple[tuple[int, object], protocol.RoomSnapshot]] = {}
_ANONYMOUS_SNAPSHOTS_KEPT = 1000


def snapshot(space: SpaceRef, user: AnyUser) -> protocol.RoomSnapshot:
    """The room as `user` should see it now, numbered with the seq of the last delta it includes."""
    space_id = space_id_of(space)
    # The seq before the state: a delta committed in between is then both in the snapshot and delivered
    # after it, and deltas are idempotent (they carry the new state), so nothing is lost.
    seq = events.current_seq(space_id)
    space = Space.objects.select_related("host").get(pk=space_id)
    if user.is_authenticated:
        return _snapshot(space, user, seq)
    key = (seq, space.created_at)
    cached = _ANONYMOUS_SNAPSHOTS.get(space.pk)
    if cached is not None and cached[0] == key:
        return msgspec.structs.replace(cached[1], listener_count=space.listener_count)
    room = _snapshot(space, user, seq)
    if len(_ANONYMOUS_SNAPSHOTS) >= _ANONYMOUS_SNAPSHOTS_KEPT:
        _ANONYMOUS_SNAPSHOTS.clear()
    _ANONYMOUS_SNAPSHOTS[space.pk] = (key, room)
    return room


def _snapshot(space: Space, user: AnyUser, seq: int) -> protocol.RoomSnapshot:
    on_stage = sorted(
        Participant.objects.filter(space=space, role__in=STAGE_ROLES, removed_at__isnull=True).select_related("user"),
        key=lambda p: (STAGE_ORDER.index(p.role), p.pk),
    )
    me = None
    if user.is_authenticated:
        me = Participant.objects.filter(space=space, user_id=user.pk).select_related("user").first()
    my_role = role_of(space, user.pk, me) if user.is_authenticated else None
    requests: list[protocol.Request] = []
    invites: list[protocol.Invite] = []
    rules = chat.rules_of(space)
    chat_muted = bool(user.is_authenticated and chat.is_chat_muted(space.pk, user.pk))
    if my_role in MODERATOR_ROLES:
        pending = Participant.objects.filter(space=space, role=Role.LISTENER, removed_at__isnull=True)
        oldest_requests = pending.filter(requested_at__isnull=False).select_related("user").order_by("requested_at")
        for p in oldest_requests[: protocol.MAX_REQUESTS_IN_SNAPSHOT]:
            assert p.requested_at is not None  # filtered on
            requests.append(protocol.Request(**person_fields(p), requested_at=p.requested_at.isoformat()))
        for p in pending.filter(invited_at__isnull=False).select_related("user").order_by("invited_at"):
            assert p.invited_at is not None  # filtered on
            invites.append(protocol.Invite(**person_fields(p), invited_at=p.invited_at.isoformat()))
    return protocol.RoomSnapshot(
        seq=seq,
        space=protocol.SpaceInfo(
            id=space.pk,
            title=space.title,
            description=space.description,
            state=space.state,  # type: ignore[arg-type]
            host=space.host.handle,
            host_id=space.host_id,
            started_at=space.started_at.isoformat() if space.started_at else None,
            is_ticketed=space.is_ticketed,
            recording=space.record and space.is_live,
        ),
        me=None
        if not user.is_authenticated or my_role is None
        else protocol.Me(
            user=user.handle,
            user_id=user.pk,
            role=my_role,  # type: ignore[arg-type]
            is_muted=me.is_muted if me and my_role in STAGE_ROLES else True,
            requested=bool(me and me.requested_at and my_role == Role.LISTENER),
            invited=bool(me and me.invited_at and my_role == Role.LISTENER),
            chat_muted=chat_muted,
            request_position=queue.position(me) if me is not None else None,
        ),
        speakers=[person(p) for p in on_stage],
        requests=requests,
        invites=invites,
        listener_count=space.listener_count,
        limits=protocol.Limits(cohosts=settings.SPACES_MAX_COHOSTS, speakers=settings.SPACES_MAX_SPEAKERS),
        reactions=list(protocol.REACTIONS),
        chat=chat.chat_state(space.pk, rules, moderator=my_role in MODERATOR_ROLES),
        pinned=chat.pinned(rules),
    )


def signed_out(sessions: dict[str, int]) -> set[str]:
    """Of these session keys (each with its user id), those that no longer log their user in: logged out,
    expired, or the account deactivated. For sockets that may have missed a log-out while the channel layer
    was down."""
    if not sessions:
        return set()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if settings.SESSION_ENGINE in ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db"):
        from django.contrib.sessions.models import Session

        live = Session.objects.filter(session_key__in=list(sessions), expire_date__gt=timezone.now())
        alive = set(live.values_list("session_key", flat=True))
    else:
        alive = {key for key in sessions if store().exists(key)}
    inactive = set(User.objects.filter(pk__in=set(sessions.values()), is_active=False).values_list("pk", flat=True))
    return {key for key, user_id in sessions.items() if key not in alive or user_id in inactive}
