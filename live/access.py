"""Who may enter a live room: the page, the socket and the media engine share this one rule."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q

from accounts.models import User
from payments.gate import ticket_refusal
from rooms.access import is_blocked_by_host
from rooms.models import Participant, Space

AnyUser = User | AnonymousUser


def entry_refusal(space: Space, user: AnyUser) -> str | None:
    """Why `user` may not enter the live room, or None when they may."""
    if is_blocked_by_host(space, user):
        return "This Space isn't available."
    if not space.is_live:
        return "This Space isn't live."
    if user.is_authenticated:
        if user.pk == space.host_id:
            return None
        if Participant.objects.filter(space=space, user=user, removed_at__isnull=False).exists():
            return "You were removed from this Space."
    if _is_invited_on_stage(space, user):
        return None
    return ticket_refusal(space, user)


def _is_invited_on_stage(space: Space, user: AnyUser) -> bool:
    """Co-hosts and speakers the host invited get into a ticketed Space without a ticket."""
    if not user.is_authenticated:
        return False
    on_stage = Q(role__in=[Participant.Role.COHOST, Participant.Role.SPEAKER]) | Q(invited_at__isnull=False)
    return Participant.objects.filter(on_stage, space=space, user=user, removed_at__isnull=True).exists()


def can_enter(space: Space, user: AnyUser) -> bool:
    return entry_refusal(space, user) is None
