"""Every change to a Space's life outside the room: create, edit, start, end, cancel, remind.

Views, the admin, the live room (live/stage.py) and the periodic jobs all call these functions. Each
checks who may act and what is allowed, changes the database in one transaction, and defers anything
that talks to the outside world (room broadcast, Celery fan-out) until that transaction commits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ratelimit
from accounts.models import Follow, User
from accounts.validators import describe, first_refused_character

from . import notifications, signals
from .access import can_view
from .models import Notification, Participant, Reminder, Space, SpaceStateError, Topic


class RoomError(Exception):
    """A refused action; the message is shown to the user as it is.

    `field` names the form field the problem belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# Reasons a Space ended, sent to the room with the `space_ended` event.
ENDED_BY_HOST = "ended_by_host"
ENDED_BY_STAFF = "ended_by_staff"
ENDED_MAX_DURATION = "max_duration"
ENDED_HOST_BANNED = "host_banned"

# Every edit of a live Space is sent to everyone in its room: a host may make this many per window.
LIVE_EDITS_PER_WINDOW = 10
LIVE_EDIT_WINDOW_SECONDS = 600


# --- Hosting gate ------------------------------------------------------------------------------------


def hosting_refusal(user: User) -> str | None:
    """Why `user` may not host a Space, or None when they may."""
    if not user.is_authenticated:
        return "Log in to host a Space."
    if not user.is_active:
        return "This account is not active."
    if not EmailAddress.objects.filter(user=user, verified=True).exists():
        return "Verify your e-mail address to host a Space. Check your inbox for the link we sent."
    needed = settings.SPACES_MIN_FOLLOWERS_TO_HOST
    if needed > 0:
        followers = Follow.objects.filter(followee=user, follower__is_active=True).count()
        if followers < needed:
            return (
                f"Hosting a Space needs at least {needed} follower{'s' if needed != 1 else ''}; you have {followers}."
            )
    return None


def can_host(user: User) -> bool:
    return hosting_refusal(user) is None


def _check_can_host(user: User) -> None:
    refusal = hosting_refusal(user)
    if refusal:
        raise RoomError(refusal)


# --- Input rules --------------------------------------------------------------------------------------


def _check_printable(text: str, field: str, *, multiline: bool) -> None:
    # Control characters break the e-mail headers these end up in, and hide or disguise text.
    char = first_refused_character(text, multiline=multiline)
    if char is not None:
        raise RoomError(f"The {field} can't contain {describe(char)}.", field=field)


def _clean_title(title: str) -> str:
    _check_printable(title, "title", multiline=False)
    title = " ".join(title.split())
    if not title:
        raise RoomError("Give your Space a title.", field="title")
    max_length = Space._meta.get_field("title").max_length
    if len(title) > max_length:
        raise RoomError(f"A title has at most {max_length} characters.", field="title")
    return title


def _clean_description(description: str) -> str:
    description = description.strip()
    _check_printable(description, "description", multiline=True)
    max_length = Space._meta.get_field("description").max_length
    if len(description) > max_length:
        raise RoomError(f"A description has at most {max_length} characters.", field="description")
    return description


def _clean_topics(topics: Iterable[Topic]) -> list[Topic]:
    topics = list(dict.fromkeys(topics))
    if len(topics) > Space.MAX_TOPICS:
        raise RoomError(f"Pick at most {Space.MAX_TOPICS} topics.", field="topics")
    return topics


def _check_schedule(when: datetime | None, now: datetime) -> datetime:
    if when is None:
        raise RoomError("Pick a date and time, or start now.", field="scheduled_for")
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    if when <= now:
        raise RoomError("That time has passed. Pick a time in the future.", field="scheduled_for")
    max_days = settings.SPACES_MAX_SCHEDULE_DAYS
    if when > now + timedelta(days=max_days):
        raise RoomError(f"You can schedule a Space up to {max_days} days ahead.", field="scheduled_for")
    return when


# --- Rate limits -------------------------------------------------------------------------------------
# Creating Spaces and telling followers are limited from the database: the limits hold across every
# Daphne process, survive a cache flush, and are decided in the transaction that makes the change.


def _check_creation_rate(host: User, now: datetime) -> None:
    """At most SPACES_MAX_SPACES_PER_HOUR new Spaces per host in any hour (0 turns the limit off).

    Cancelled and ended Spaces count too, or create-and-cancel would go round it.
    """
    limit = settings.SPACES_MAX_SPACES_PER_HOUR
    if limit <= 0:
        return
    # Two creations by one host at once queue here, so they cannot both take the last place. NO KEY
    # UPDATE does not block the foreign-key checks of the host's other writes (starting a Space, say).
    list(User.objects.select_for_update(no_key=True).filter(pk=host.pk).values_list("pk", flat=True))
    recent = Space.objects.filter(host=host, created_at__gt=now - timedelta(hours=1))
    if recent.count() < limit:
        return
    oldest = recent.order_by("created_at").values_list("created_at", flat=True)[0]
    wait_minutes = min(60, max(1, math.ceil((oldest + timedelta(hours=1) - now).total_seconds() / 60)))
    raise RoomError(
        f"You've created {limit} Space{'s' if limit != 1 else ''} in the last hour, the most allowed. "
        f"You can create another in {wait_minutes} minute{'s' if wait_minutes != 1 else ''}."
    )


def _followers_heard_recently(space: Space, now: datetime) -> bool:
    """Whether the host went live with another Space in the last SPACES_GO_LIVE_NOTIFY_EVERY_MINUTES.

    Followers then heard "is live" already (or it was held back for the same reason): at most one such
    fan-out per host per period, however fast a host starts and ends Spaces.
    """
    minutes = settings.SPACES_GO_LIVE_NOTIFY_EVERY_MINUTES
    if minutes <= 0:
        return False
    return (
        Space.objects.filter(host_id=space.host_id, started_at__gt=now - timedelta(minutes=minutes))
        .exclude(pk=space.pk)
        .exists()
    )


def _check_host(space: Space, actor: User) -> None:
    if not actor.is_authenticated or actor.pk != space.host_id:
        raise RoomError("Only the host can do that.")


def _check_not_live_elsewhere(host: User, space: Space | None = None) -> None:
    live = Space.objects.live().filter(host=host)
    if space is not None:
        live = live.exclude(pk=space.pk)
    other = live.first()
    if other is not None:
        raise RoomError(f"You're already live in “{other.title}”. End it before starting another Space.")


def _locked(space: Space) -> Space:
    """The Space's current row, locked until the transaction ends (two clicks on Start race here)."""
    return Space.objects.select_for_update().get(pk=space.pk)


def _copy_state(source: Space, target: Space) -> None:
    # Callers keep using the instance they passed in; give it what the transition wrote.
    for field in ("state", "started_at", "ended_at"):
        setattr(target, field, getattr(source, field))


# --- Create and edit ----------------------------------------------------------------------------------


def edit_refusal(space: Space, actor: User) -> str | None:
    """Why `actor` may not edit `space`, or None when they may (the edit page asks before showing its form)."""
    if not actor.is_authenticated or actor.pk != space.host_id:
        return "Only the host can edit this Space."
    if space.is_over:
        return f"This Space is {space.get_state_display().lower()}; it can't be edited."
    return None


def _check_can_edit(space: Space, actor: User) -> None:
    refusal = edit_refusal(space, actor)
    if refusal:
        raise RoomError(refusal)


def create_space(
    host: User,
    *,
    title: str,
    description: str = "",
    topics: Iterable[Topic] = (),
    scheduled_for: datetime | None = None,
    start_now: bool = False,
) -> Space:
    """Create a Space that starts now (`start_now`) or is scheduled for `scheduled_for`."""
    _check_can_host(host)
    now = timezone.now()
    title = _clean_title(title)
    description = _clean_description(description)
    topics = _clean_topics(topics)
    if not start_now:
        scheduled_for = _check_schedule(scheduled_for, now)
    with transaction.atomic():
        _check_creation_rate(host, now)
        if start_now:
            _check_not_live_elsewhere(host)
        space = Space.objects.create(
            host=host, title=title, description=description, scheduled_for=None if start_now else scheduled_for
        )
        space.topics.set(topics)
        if start_now:
            _go_live(space, now)
    return space


def update_space(
    space: Space,
    actor: User,
    *,
    title: str,
    description: str = "",
    topics: Iterable[Topic] = (),
    scheduled_for: datetime | None = None,
) -> Space:
    """Edit a Space that has not finished. The time can only move while it is still scheduled."""
    _check_can_edit(space, actor)
    title = _clean_title(title)
    description = _clean_description(description)
    topics = _clean_topics(topics)
    with transaction.atomic():
        locked = _locked(space)
        _check_can_edit(locked, actor)  # again on the current row: it may have ended, or changed hands
        if locked.is_live and not ratelimit.allow(
            "live_edit", locked.pk, limit=LIVE_EDITS_PER_WINDOW, window=LIVE_EDIT_WINDOW_SECONDS
        ):
            raise RoomError("You've edited this live Space many times in the last few minutes. Try again later.")
        fields = ["title", "description"]
        if locked.is_scheduled and scheduled_for is not None and scheduled_for != locked.scheduled_for:
            locked.scheduled_for = _check_schedule(scheduled_for, timezone.now())
            fields.append("scheduled_for")
        locked.title, locked.description = title, description
        locked.save(update_fields=fields)
        locked.topics.set(topics)
        if locked.is_live:
            signals.space_updated.send(sender=Space, space=locked)
    for field in fields:
        setattr(space, field, getattr(locked, field))
    return space


# --- Transitions ------------------------------------------------------------------------------------


def _go_live(space: Space, now: datetime) -> None:
    try:
        space.start(now)
    except SpaceStateError as exc:
        raise RoomError(str(exc)) from None
    try:
        # A savepoint, so that losing the race for the one-live-Space constraint leaves the outer
        # transaction usable and the caller sees a RoomError, not a broken connection.
        with transaction.atomic():
            space.save(update_fields=["state", "started_at"])
    except IntegrityError:
        raise RoomError("You're already live in another Space. End it before starting this one.") from None
    Participant.objects.update_or_create(
        space=space,
        user_id=space.host_id,
        defaults={"role": Participant.Role.HOST, "is_muted": True, "removed_at": None},
    )
    signals.space_started.send(sender=Space, space=space)
    if _followers_heard_recently(space, now):
        # People who set a reminder for this Space asked to hear about it: they always do.
        notifications._enqueue(space, Notification.Kind.REMINDER)
    else:
        notifications.enqueue_go_live(space)


def start_space(space: Space, actor: User) -> Space:
    """The host starts a scheduled Space (early or late, until the no-show job cancels it)."""
    _check_host(space, actor)
    if not actor.is_active:
        raise RoomError("This account is not active.")
    with transaction.atomic():
        locked = _locked(space)
        _check_not_live_elsewhere(locked.host, locked)
        _go_live(locked, timezone.now())
    _copy_state(locked, space)
    return space


def _finish(space: Space, reason: str, host: User | None = None) -> Space:
    with transaction.atomic():
        locked = _locked(space)
        if host is not None:
            _check_host(locked, host)  # on the current row: the live room may have handed the Space over
        try:
            locked.end()
        except SpaceStateError as exc:
            raise RoomError(str(exc)) from None
        locked.save(update_fields=["state", "ended_at"])
        signals.space_ended.send(sender=Space, space=locked, reason=reason)
    _copy_state(locked, space)
    return space


def end_space(space: Space, actor: User, *, by_staff: bool = False) -> Space:
    """End a live Space: its host may, and staff may when acting as staff (admin, moderation)."""
    if by_staff and actor.is_authenticated and actor.is_staff:
        return _finish(space, ENDED_BY_STAFF)
    _check_host(space, actor)
    return _finish(space, ENDED_BY_HOST, host=actor)


def end_overlong_space(space: Space) -> Space:
    """The periodic job's way to end a Space that has been live longer than SPACES_MAX_DURATION."""
    return _finish(space, ENDED_MAX_DURATION)


def _cancel(space: Space) -> Space:
    with transaction.atomic():
        locked = _locked(space)
        try:
            locked.cancel()
        except SpaceStateError as exc:
            raise RoomError(str(exc)) from None
        locked.save(update_fields=["state", "ended_at"])
        signals.space_cancelled.send(sender=Space, space=locked)
        notifications.enqueue_cancelled(locked)
    _copy_state(locked, space)
    return space


def cancel_space(space: Space, actor: User, *, by_staff: bool = False) -> Space:
    """Cancel a scheduled Space; people with a reminder are told (and ticket holders refunded)."""
    if not (by_staff and actor.is_authenticated and actor.is_staff):
        _check_host(space, actor)
    return _cancel(space)


def cancel_no_show_space(space: Space) -> Space:
    """The periodic job's way to cancel a Space its host did not start within SPACES_NO_SHOW_GRACE."""
    return _cancel(space)


def close_spaces_of_banned_host(host: User) -> None:
    """A ban ends the host's live Space and cancels their scheduled ones (ticket holders are refunded)."""
    for space in Space.objects.filter(host=host, state__in=[Space.State.LIVE, Space.State.SCHEDULED]):
        try:
            if space.is_live:
                _finish(space, ENDED_HOST_BANNED)
            else:
                _cancel(space)
        except RoomError:  # it ended or started meanwhile: the state on the locked row wins
            continue


# --- Reminders ----------------------------------------------------------------------------------------


def toggle_reminder(space: Space, user: User) -> bool:
    """Set or clear `user`'s reminder for a scheduled Space. Returns True when a reminder is now set."""
    if not user.is_authenticated:
        raise RoomError("Log in to set a reminder.")
    if not can_view(space, user):
        raise RoomError("This Space isn't available.")
    if user.pk == space.host_id:
        raise RoomError("You're the host: you'll be there.")
    deleted, _ = Reminder.objects.filter(space=space, user=user).delete()
    if deleted:
        return False
    if not space.is_scheduled:
        raise RoomError("Reminders are for Spaces that haven't started yet.")
    try:
        with transaction.atomic():
            Reminder.objects.create(space=space, user=user)
    except IntegrityError:  # a double click made the same reminder
        pass
    return True


def has_reminder(space: Space, user: User) -> bool:
    return user.is_authenticated and Reminder.objects.filter(space=space, user=user).exists()
