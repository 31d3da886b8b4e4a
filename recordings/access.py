"""Who may play a replay or a clip: the one rule for the replay page, its audio, clips and the feed."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from payments.gate import ticket_refusal
from rooms.access import can_view
from rooms.models import STAGE_ROLES, Participant

from .models import Recording

AnyUser = User | AnonymousUser


def is_host(recording: Recording, user: AnyUser) -> bool:
    return user.is_authenticated and user.pk == recording.space.host_id


def listen_refusal(recording: Recording, user: AnyUser) -> str | None:
    """Why `user` may not hear this recording (its replay or its clips), or None. Ticketed Spaces: ticket
    holders, the host and whoever was on stage, unless the host made the replay public."""
    space = recording.space
    if recording.is_removed:
        return "This recording was removed."
    if not can_view(space, user):
        return "This Space isn't available."
    if is_host(recording, user) or recording.is_open_to_all:
        return None
    if (
        user.is_authenticated
        and Participant.objects.filter(space=space, user=user, role__in=STAGE_ROLES, removed_at__isnull=True).exists()
    ):
        return None
    if ticket_refusal(space, user) is None:
        return None
    return "The replay of this Space is for ticket holders."


def replay_refusal(recording: Recording, user: AnyUser) -> str | None:
    """listen_refusal, and the replay must be ready."""
    refusal = listen_refusal(recording, user)
    if refusal:
        return refusal
    if recording.state == Recording.State.EMPTY:
        return "Nothing was recorded in this Space."
    if not recording.is_ready:
        return "The replay is being prepared. It's usually ready a minute after the Space ends."
    return None


def in_feed(recording: Recording) -> bool:
    """Podcast apps get public replays only, once their AAC copy exists."""
    return recording.is_ready and recording.is_open_to_all and bool(recording.m4a)
