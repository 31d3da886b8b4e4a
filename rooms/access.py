"""Who may see a Space's pages. Who may enter its live room is the live app's question (live.access)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from accounts.models import Block, User

from .models import Space

AnyUser = User | AnonymousUser


def is_blocked_by_host(space: Space, user: AnyUser) -> bool:
    return user.is_authenticated and Block.objects.filter(blocker_id=space.host_id, blocked_id=user.pk).exists()


def can_view(space: Space, user: AnyUser) -> bool:
    """The Space's pages (its own, its tickets) may be shown: to everyone except people the host has
    blocked, and to nobody once the host is banned."""
    return space.host.is_active and not is_blocked_by_host(space, user)
