"""Every change to a Space's life outside the room: create, edit, start, end, cancel, remind.

Views, the admin, the live room (live/stage.py) and the periodic jobs all call these functions. Each
checks who may act and what is allowed, changes the database in one transaction, and defers anything
that talks to the outside world (room broadcast, Celery fan-out) until that transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ratelimit
from accounts.models import Follow, User

from . import notifications, rules, signals
from .access import can_view
from .errors import RoomError as RoomError  # raised by every service here; imported from here by callers
from .models import Notification, Participant, Reminder, Space, SpaceStateError, Topic

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
    record: bool = False,
) -> Space:
    """Create a Space that starts now (`start_now`) or is scheduled for `scheduled_for`; `record` records it."""
    _check_can_host(host)
    now = timezone.now()
    title = rules.clean_title(title)
    description = rules.clean_description(description)
    topics = rules.clean_topics(topics)
    if not start_now:
        scheduled_for = rules.check_schedule(scheduled_for, now)
    with transaction.atomic():
        rules.check_creation_rate(host, now)
        if start_now:
            _check_not_live_elsewhere(host)
        space = Space.objects.create(
            host=host,
            title=title,
            description=description,
            scheduled_for=None if start_now else scheduled_for,
            record=record,
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
    record: bool | None = None,
) -> Space:
    """Edit a Space that has not finished. The time can only move while it is still scheduled, and so can
    `record` (a live Space's recording is switched in the room, where everyone sees it)."""
    _check_can_edit(space, actor)
    title = rules.clean_title(title)
    description = rules.clean_description(description)
    topics = rules.clean_topics(topics)
    with transaction.atomic():
        locked = _locked(space)
        _check_can_edit(locked, actor)  # again on the current row: it may have ended, or changed hands
        if locked.is_live and not ratelimit.allow(
            "live_edit", locked.pk, limit=LIVE_EDITS_PER_WINDOW, window=LIVE_EDIT_WINDOW_SECONDS
        ):
            raise RoomError("You've edited this live Space many times in the last few minutes. Try again later.")
        fields = ["title", "description"]
        if locked.is_scheduled and scheduled_for is not None and scheduled_for != locked.scheduled_for:
            locked.scheduled_for = rules.check_schedule(scheduled_for, timezone.now())
            fields.append("scheduled_for")
        if locked.is_scheduled and record is not None and record != locked.record:
            locked.record = record
            fields.append("record")
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
    if rules.followers_heard_recently(space, now):
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


def _finish(space: Space, reason: str, host: User | None = None, by: User | None = None) -> Space:
    with transaction.atomic():
        locked = _locked(space)
        if host is not None:
            _check_host(locked, host)  # on the current row: the live room may have handed the Space over
        try:
            locked.end()
        except SpaceStateError as exc:
            raise RoomError(str(exc)) from None
        locked.save(update_fields=["state", "ended_at"])
        signals.space_ended.send(sender=Space, space=locked, reason=reason, by=by or host)
    _copy_state(locked, space)
    return space


def end_space(space: Space, actor: User, *, by_staff: bool = False) -> Space:
    """End a live Space: its host may, and staff may when acting as staff (admin, moderation)."""
    if by_staff and actor.is_authenticated and actor.is_staff:
        return _finish(space, ENDED_BY_STAFF, by=actor)
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


def has_reminder(space: Space, user: User | AnonymousUser) -> bool:
    return user.is_authenticated and Reminder.objects.filter(space=space, user=user).exists()
