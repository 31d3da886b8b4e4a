"""Who may see a Space and who may enter its room (page, socket and media share these rules)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from accounts.models import Block, User

from .models import Participant, Space

AnyUser = User | AnonymousUser


def _is_blocked_by_host(space: Space, user: AnyUser) -> bool:
    return user.is_authenticated and Block.objects.filter(blocker_id=space.host_id, blocked_id=user.pk).exists()


def can_view(space: Space, user: AnyUser) -> bool:
    """The Space's page may be shown: everyone except people the host has blocked."""
    return not _is_blocked_by_host(space, user)


def entry_refusal(space: Space, user: AnyUser) -> str | None:
    """Why `user` may not enter the live room, or None when they may."""
    if _is_blocked_by_host(space, user):
        return "This Space isn't available."
    if not space.is_live:
        return "This Space isn't live."
    if user.is_authenticated:
        if user.pk == space.host_id:
            return None
        if Participant.objects.filter(space=space, user=user, removed_at__isnull=False).exists():
            return "You were removed from this Space."
    return None


def can_enter(space: Space, user: AnyUser) -> bool:
    return entry_refusal(space, user) is None
