"""Add to calendar: a scheduled Space as an .ics file that calendar apps read (parsed back with icalendar)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from icalendar import Calendar

from accounts import services as accounts
from tests.live.roomkit import make_space

pytestmark = pytest.mark.django_db


def parsed(response) -> Calendar:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return Calendar.from_ical(response.content)


def test_a_scheduled_space_is_one_event_with_a_reminder(client, alice):
    space = make_space(alice, title="Compilers AMA", starts_in=timedelta(days=3))
    space.description = "Bring your bugs."
    space.save()

    calendar = parsed(client.get(f"/spaces/{space.pk}/calendar.ics"))

    [event] = calendar.events
    assert event.start == space.scheduled_for.replace(microsecond=0)  # iCalendar counts whole seconds
    assert event.end - event.start == timedelta(hours=1)
    assert str(event["SUMMARY"]) == "Compilers AMA"
    assert event.uid == f"space-{space.pk}@{settings.SITE_DOMAIN}"
    assert str(event["URL"]) == f"http://testserver/spaces/{space.pk}/"
    assert "Bring your bugs." in str(event["DESCRIPTION"]) and "@alice" in str(event["DESCRIPTION"])
    [alarm] = event.subcomponents
    assert alarm.name == "VALARM" and str(alarm["ACTION"]) == "DISPLAY"
    assert alarm["TRIGGER"].dt == -timedelta(minutes=10)
    assert "Compilers AMA" in str(alarm["DESCRIPTION"])


def test_the_space_page_links_to_it(client, alice):
    space = make_space(alice)
    page = client.get(space.get_absolute_url()).content.decode()
    assert f'href="/spaces/{space.pk}/calendar.ics"' in page and "Add to calendar" in page


@pytest.mark.parametrize("state", ["live", "ended", "cancelled"])
def test_only_a_scheduled_space_goes_in_a_calendar(client, alice, state):
    space = make_space(alice, state)
    assert client.get(f"/spaces/{space.pk}/calendar.ics").status_code == 404
    assert "calendar.ics" not in client.get(space.get_absolute_url()).content.decode()


def test_a_host_who_blocked_you_gives_you_no_calendar_either(client, alice, bob):
    space = make_space(alice)
    accounts.block(alice, bob)
    client.force_login(bob)
    assert client.get(f"/spaces/{space.pk}/calendar.ics").status_code == 404
