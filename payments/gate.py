"""The ticket gate: the one question the live room asks payments."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from rooms.models import Space

from .models import Ticket

TICKET_REQUIRED = "This Space needs a ticket."


def ticket_refusal(space: Space, user: User | AnonymousUser) -> str | None:
    """Why `user` may not enter `space` as far as tickets go, or None. Hosts, co-hosts and invited
    speakers are let in by the live room before it asks. A ticket whose refund is decided no longer
    counts, even before Stripe confirms it."""
    if not space.is_ticketed:
        return None
    if (
        user.is_authenticated
        and Ticket.objects.filter(
            space=space, buyer=user, state=Ticket.State.PAID, refund_requested_at__isnull=True
        ).exists()
    ):
        return None
    return TICKET_REQUIRED
