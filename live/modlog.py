"""The moderation log: every moderator action in a Space, with who did it, to whom, and when.

`record` is called inside the transaction of the action itself (live.stage's moderator paths, live.chat,
the reports app's staff decisions), so an action and its entry commit or roll back together. Staff
actions that start outside the live room are recorded here from the signals their apps send in their own
transactions: a staff end (rooms.signals.space_ended, reason `ended_by_staff`) and a ban
(accounts.signals.user_banned). The host and co-hosts read their Space's log in the room (live.views);
staff read all of it in the admin (live.admin).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import User
from accounts.signals import user_banned
from rooms.models import Participant, Space
from rooms.signals import space_ended

from .models import ModerationEntry

Action = ModerationEntry.Action
PAGE = 50


def record(
    space: Space | int | None,
    actor: User | None,
    action: str,
    target: User | None = None,
    *,
    detail: str = "",
    as_staff: bool = False,
) -> ModerationEntry:
    """Write one entry; call it inside the action's own transaction."""
    space_id = space.pk if isinstance(space, Space) else space
    max_length = ModerationEntry._meta.get_field("detail").max_length or 300
    if len(detail) > max_length:
        detail = detail[: max_length - 1] + "…"
    return ModerationEntry.objects.create(
        space_id=space_id, actor=actor, action=action, target=target, detail=detail, as_staff=as_staff
    )


def record_seat(seat, action: str, target: User | None = None, detail: str = "") -> None:
    """An entry for a stage or chat action by `seat.actor` (live.seats.Seat), unless they acted on themselves:
    stepping down or deleting your own message moderates nobody."""
    if target is not None and target.pk == seat.actor.pk:
        return
    record(seat.space, seat.actor, action, target, detail=detail, as_staff=seat.as_staff)


def entries_for(space_id: int, before: int | None = None) -> QuerySet[ModerationEntry]:
    """A Space's log, newest first, a page at a time (`before`: an entry id from the previous page)."""
    entries = ModerationEntry.objects.filter(space_id=space_id).select_related("actor", "target").order_by("-id")
    if before is not None:
        entries = entries.filter(pk__lt=before)
    return entries[:PAGE]


def may_read(space: Space, user) -> bool:
    """The host and co-hosts read their Space's log (live or ended); staff read every log."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.pk == space.host_id:
        return True
    roles = (Participant.Role.HOST, Participant.Role.COHOST)
    return Participant.objects.filter(space=space, user=user, role__in=roles, removed_at__isnull=True).exists()


# --- Staff actions taken outside the room: recorded from their apps' signals ---------------------------


@receiver(space_ended, dispatch_uid="live.modlog.staff_end")
def record_staff_end(sender, space: Space, reason: str, by: User | None = None, **kwargs) -> None:
    if reason == "ended_by_staff":
        record(space, by, Action.END_SPACE, space.host, as_staff=True)


@receiver(user_banned, dispatch_uid="live.modlog.ban")
def record_ban(sender, user: User, by: User | None = None, **kwargs) -> None:
    """One entry for each live Space the banned person hosts or takes part in (so those hosts see why they
    left), and one without a Space when they are in none."""
    taking_part = Participant.objects.filter(user=user, removed_at__isnull=True).values("space_id")
    # Their own live Space may have been ended by the ban a moment ago (rooms hears the signal first).
    just_ended = Q(host=user, state=Space.State.ENDED, ended_at__gte=timezone.now() - timedelta(minutes=1))
    spaces = list(
        Space.objects.filter(Q(state=Space.State.LIVE) | just_ended, pk__in=taking_part).values_list("pk", flat=True)
    )
    where: list[int | None] = [*spaces] or [None]
    for space_id in where:
        record(space_id, by, Action.BAN, user, as_staff=True)
