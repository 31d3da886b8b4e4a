"""Who may see a Space and who may enter its room (page, socket and media share these rules)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q

from accounts.models import Block, User

from .models import Participant, Space

AnyUser = User | AnonymousUser


def _is_blocked_by_host(space: Space, user: AnyUser) -> bool:
    return user.is_authenticated and Block.objects.filter(blocker_id=space.host_id, blocked_id=user.pk).exists()


def can_view(space: Space, user: AnyUser) -> bool:
    """The Space's pages (its own, its tickets) may be shown: to everyone except people the host has
    blocked, and to nobody once the host is banned."""
    return space.host.is_active and not _is_blocked_by_host(space, user)


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
    if space.is_ticketed and not _is_invited_on_stage(space, user):
        # The one question rooms asks payments; imported here so rooms' models never import it.
        from payments.services import TICKET_REQUIRED, has_paid_ticket

        if not has_paid_ticket(space, user):
            return TICKET_REQUIRED
    return None


def _is_invited_on_stage(space: Space, user: AnyUser) -> bool:
    """Co-hosts and speakers the host invited get into a ticketed Space without a ticket."""
    if not user.is_authenticated:
        return False
    on_stage = Q(role__in=[Participant.Role.COHOST, Participant.Role.SPEAKER]) | Q(invited_at__isnull=False)
    return Participant.objects.filter(on_stage, space=space, user=user, removed_at__isnull=True).exists()


def can_enter(space: Space, user: AnyUser) -> bool:
    return entry_refusal(space, user) is None
