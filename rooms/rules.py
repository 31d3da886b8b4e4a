"""What a Space may be: the input rules for titles, descriptions, topics and times, and the limits on how
fast a host creates Spaces and tells followers. rooms.services checks them inside its transactions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from accounts.validators import describe, first_refused_character

from .errors import RoomError
from .models import Space, Topic

# --- Input rules --------------------------------------------------------------------------------------


def check_printable(text: str, field: str, *, multiline: bool) -> None:
    # Control characters break the e-mail headers these end up in, and hide or disguise text.
    char = first_refused_character(text, multiline=multiline)
    if char is not None:
        raise RoomError(f"The {field} can't contain {describe(char)}.", field=field)


def clean_title(title: str) -> str:
    check_printable(title, "title", multiline=False)
    title = " ".join(title.split())
    if not title:
        raise RoomError("Give your Space a title.", field="title")
    max_length = Space.TITLE_MAX_LENGTH
    if len(title) > max_length:
        raise RoomError(f"A title has at most {max_length} characters.", field="title")
    return title


def clean_description(description: str) -> str:
    description = description.strip()
    check_printable(description, "description", multiline=True)
    max_length = Space.DESCRIPTION_MAX_LENGTH
    if len(description) > max_length:
        raise RoomError(f"A description has at most {max_length} characters.", field="description")
    return description


def clean_topics(topics: Iterable[Topic]) -> list[Topic]:
    topics = list(dict.fromkeys(topics))
    if len(topics) > Space.MAX_TOPICS:
        raise RoomError(f"Pick at most {Space.MAX_TOPICS} topics.", field="topics")
    return topics


def check_schedule(when: datetime | None, now: datetime) -> datetime:
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


def check_creation_rate(host: User, now: datetime) -> None:
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


def followers_heard_recently(space: Space, now: datetime) -> bool:
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
