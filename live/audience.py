"""Who is listening: the audience list of a live room, one page at a time.

The connected user ids come from the audience registry (live.presence: each hub reports the users it
holds sockets for, per process, with a TTL), so the list spans every server process and a crashed one
drops out by itself. The people are read from the database in the order Twitter shows them: people the
viewer follows first, then by name. Pages are keyset-paginated (the cursor names the last row), so a
room of thousands pages as fast as a small one and people joining don't shift the pages.
"""

from __future__ import annotations

import base64
from typing import Literal

import msgspec
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower, NullIf

from accounts.models import Follow, User
from rooms.models import Participant, Space

from .presence import read_audience
from .roles import AnyUser, role_of

PAGE_SIZE = 50


class Member(msgspec.Struct, kw_only=True):
    user: str
    user_id: int
    name: str
    initials: str
    hue: int
    role: Literal["host", "cohost", "speaker", "listener"]
    followed: bool


class AudiencePage(msgspec.Struct, kw_only=True):
    count: int  # everyone connected: the logged-in people below (over every page) and anonymous sockets
    anonymous: int
    people: list[Member]
    next: str | None


class BadCursor(ValueError):
    pass


class _Cursor(msgspec.Struct, array_like=True):
    followed: bool
    name: str
    user_id: int


def audience_page(space: Space, viewer: AnyUser, cursor: str | None = None) -> AudiencePage:
    """One page of the room's audience as `viewer` sees it. Raises BadCursor, and redis.RedisError when
    the registry can't be read."""
    after = _decode(cursor) if cursor else None
    audience = read_audience(space.pk)
    people = _ordered(audience.user_ids, viewer)
    if after is not None:
        later = Q(sort_name__gt=after.name) | Q(sort_name=after.name, pk__gt=after.user_id)
        if after.followed:
            people = people.filter((Q(followed=True) & later) | Q(followed=False))
        else:
            people = people.filter(Q(followed=False) & later)
    rows = list(people[: PAGE_SIZE + 1])
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    seats = {
        p.user_id: p
        for p in Participant.objects.filter(space=space, user_id__in=[u.pk for u in page], removed_at__isnull=True)
    }
    members = [
        Member(
            user=user.handle,
            user_id=user.pk,
            name=user.name,
            initials=user.initials,
            hue=user.avatar_hue,
            role=role_of(space, user.pk, seats.get(user.pk)),  # type: ignore[arg-type]
            followed=user.followed,  # type: ignore[attr-defined]
        )
        for user in page
    ]
    last = page[-1] if more else None
    return AudiencePage(
        count=len(audience.user_ids) + audience.anonymous,
        anonymous=audience.anonymous,
        people=members,
        next=_encode(_Cursor(last.followed, last.sort_name, last.pk)) if last is not None else None,  # type: ignore[attr-defined]
    )


def _ordered(user_ids: set[int], viewer: AnyUser) -> QuerySet[User]:
    followed = (
        Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef("pk")))
        if viewer.is_authenticated
        else Value(False, output_field=BooleanField())
    )
    return (
        User.objects.filter(pk__in=user_ids, is_active=True)
        .annotate(followed=followed, sort_name=Lower(Coalesce(NullIf("display_name", Value("")), "handle")))
        .order_by("-followed", "sort_name", "pk")
    )


def _encode(cursor: _Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def _decode(cursor: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=_Cursor)
    except (ValueError, msgspec.DecodeError):
        raise BadCursor("That page cursor isn't valid.") from None
