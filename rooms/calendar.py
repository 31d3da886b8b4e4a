"""A scheduled Space as an iCalendar file (RFC 5545), for "Add to calendar"."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from icalendar import Alarm, Calendar, Event

from .models import Space

# A Space has no planned length; calendars need one to draw the event.
EVENT_LENGTH = timedelta(hours=1)
# The calendar's own reminder, like the site's "Set reminder" but from the viewer's calendar app.
REMIND_BEFORE = timedelta(minutes=10)


def space_calendar(space: Space, url: str) -> bytes:
    """One VEVENT at the Space's scheduled time, linking to `url`, with a display alarm before it."""
    start = space.scheduled_for
    if start is None:
        raise ValueError("A Space without a scheduled time has no place in a calendar.")
    about = f"{space.description}\n\n" if space.description else ""
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -REMIND_BEFORE)
    alarm.add("description", f"“{space.title}” starts in {REMIND_BEFORE // timedelta(minutes=1)} minutes")
    event = Event.new(
        uid=f"space-{space.pk}@{settings.SITE_DOMAIN}",
        stamp=timezone.now(),
        start=start,
        end=start + EVENT_LENGTH,
        summary=space.title,
        description=f"{about}A Space hosted by {space.host.name} (@{space.host.handle}).\nListen: {url}",
        location=url,
        url=url,
        subcomponents=[alarm],
    )
    calendar = Calendar.new(prodid=f"-//{settings.SITE_NAME}//Spaces//EN", method="PUBLISH", subcomponents=[event])
    return calendar.to_ical()
