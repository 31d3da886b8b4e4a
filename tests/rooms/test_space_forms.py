"""Creating, editing and acting on a Space through its pages: what the host and others see."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from rooms.models import Reminder, Space, Topic
from tests.live.roomkit import make_space

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


# --- Creating and editing ---------------------------------------------------------------------------


def test_creating_needs_a_login(client):
    response = client.get("/spaces/new/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_unverified_user_is_told_why_they_cannot_host(client, make_user):
    client.force_login(make_user("dora", verified=False))
    page = text(client.get("/spaces/new/"))
    assert "Verify your e-mail address to host a Space" in page and 'name="title"' not in page
    client.post("/spaces/new/", {"title": "Sneaky", "when": "now"})
    assert not Space.objects.exists()


def test_the_follower_gate_message_shows_on_the_page(client, settings, alice):
    settings.SPACES_MIN_FOLLOWERS_TO_HOST = 600
    client.force_login(alice)
    assert "at least 600 followers; you have 0" in text(client.get("/spaces/new/"))


def test_starting_now_goes_live(client, alice):
    client.force_login(alice)
    music = Topic.objects.create(name="Music", slug="music")
    response = client.post("/spaces/new/", {"title": "Right now", "when": "now", "topics": [music.pk]})
    space = Space.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/spaces/{space.pk}/"
    assert space.is_live and list(space.topics.all()) == [music]


def test_scheduling_reads_the_time_in_the_users_zone(client, alice):
    client.force_login(alice)
    local = timezone.now().astimezone(UTC) + timedelta(days=2)
    local = local.replace(second=0, microsecond=0)
    client.post(
        "/spaces/new/",
        {"title": "Later", "when": "later", "scheduled_for": local.strftime("%Y-%m-%dT%H:%M"), "tz": "Asia/Tokyo"},
    )
    space = Space.objects.get()
    assert space.is_scheduled
    # 12:00 in Tokyo is 03:00 UTC: the wall-clock time typed was Tokyo's.
    assert space.scheduled_for == local.replace(tzinfo=None).replace(tzinfo=timezone.get_fixed_timezone(9 * 60))


def test_scheduling_in_the_past_shows_an_error_on_the_form(client, alice):
    client.force_login(alice)
    past = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = text(client.post("/spaces/new/", {"title": "Late", "when": "later", "scheduled_for": past}))
    assert "That time has passed" in page and not Space.objects.exists()


def test_scheduling_without_a_time_shows_an_error(client, alice):
    client.force_login(alice)
    page = text(client.post("/spaces/new/", {"title": "When?", "when": "later"}))
    assert "Pick a date and time" in page and not Space.objects.exists()


def test_a_second_live_space_is_refused_with_a_message(client, alice):
    make_space(alice, "live", title="First")
    client.force_login(alice)
    page = text(client.post("/spaces/new/", {"title": "Second", "when": "now"}))
    assert "already live in “First”" in page and Space.objects.count() == 1


def test_a_title_with_a_line_break_is_refused_under_the_title_field(client, alice):
    client.force_login(alice)
    response = client.post("/spaces/new/", {"title": "Hello\nBcc: all@example.com", "when": "now"})
    assert response.status_code == 200
    assert response.context["form"].errors["title"] == ["This can't contain a line break. Type it again without it."]
    assert not Space.objects.exists()


def test_a_description_keeps_its_line_breaks(client, alice):
    client.force_login(alice)
    client.post("/spaces/new/", {"title": "Notes", "description": "one\r\ntwo", "when": "now"})
    assert Space.objects.get().description.splitlines() == ["one", "two"]


def test_creating_past_the_hourly_limit_shows_why_and_creates_nothing(client, settings, alice):
    settings.SPACES_MAX_SPACES_PER_HOUR = 2
    client.force_login(alice)
    later = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for title in ("One", "Two"):
        client.post("/spaces/new/", {"title": title, "when": "later", "scheduled_for": later})
    response = client.post("/spaces/new/", {"title": "Three", "when": "now"})
    assert response.status_code == 200
    assert "You&#x27;ve created 2 Spaces in the last hour" in text(response)
    assert response.context["form"].non_field_errors()
    assert list(Space.objects.values_list("title", flat=True).order_by("title")) == ["One", "Two"]


def test_the_host_edits_a_space(client, alice):
    space = make_space(alice)
    client.force_login(alice)
    page = text(client.get(f"/spaces/{space.pk}/edit/"))
    assert 'value="Talk"' in page and "data-utc" in page
    when = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = client.post(
        f"/spaces/{space.pk}/edit/",
        {"title": "Edited", "description": "New", "scheduled_for": when.strftime("%Y-%m-%dT%H:%M"), "tz": "UTC"},
    )
    assert response.status_code == 302
    space.refresh_from_db()
    assert (space.title, space.description, space.scheduled_for) == ("Edited", "New", when)


def test_someone_else_cannot_edit(logged_in, alice):
    space = make_space(alice)
    response = logged_in.post(f"/spaces/{space.pk}/edit/", {"title": "Mine"}, follow=True)
    assert "Only the host can edit" in text(response)
    assert Space.objects.get(pk=space.pk).title == "Talk"


# --- Actions -----------------------------------------------------------------------------------------


def test_start_end_and_cancel_through_the_pages(client, alice):
    client.force_login(alice)
    space = make_space(alice)
    response = client.post(f"/spaces/{space.pk}/start/")
    assert response["Location"] == f"/spaces/{space.pk}/" and Space.objects.get(pk=space.pk).is_live
    client.post(f"/spaces/{space.pk}/end/")
    assert Space.objects.get(pk=space.pk).state == "ended"
    other = make_space(alice)
    client.post(f"/spaces/{other.pk}/cancel/")
    assert Space.objects.get(pk=other.pk).state == "cancelled"


@pytest.mark.parametrize(("state", "action"), [("ended", "start"), ("scheduled", "end"), ("live", "cancel")])
def test_an_invalid_transition_is_a_message_not_an_error(client, alice, state, action):
    client.force_login(alice)
    space = make_space(alice, state)
    response = client.post(f"/spaces/{space.pk}/{action}/", follow=True)
    assert response.status_code == 200
    assert "message--error" in text(response) and "can&#x27;t be" in text(response)


def test_actions_need_post_and_login(client, alice):
    space = make_space(alice)
    assert client.get(f"/spaces/{space.pk}/start/").status_code == 405
    response = client.post(f"/spaces/{space.pk}/start/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Space.objects.get(pk=space.pk).is_scheduled


def test_someone_else_cannot_start_your_space(logged_in, alice):
    space = make_space(alice)
    assert "Only the host can do that" in text(logged_in.post(f"/spaces/{space.pk}/start/", follow=True))
    assert Space.objects.get(pk=space.pk).is_scheduled


def test_the_reminder_button_toggles(logged_in, alice, bob):
    space = make_space(alice)
    page = text(logged_in.post(f"/spaces/{space.pk}/remind/", follow=True))
    assert "Reminder set" in page and Reminder.objects.filter(space=space, user=bob).exists()
    page = text(logged_in.post(f"/spaces/{space.pk}/remind/", follow=True))
    assert "Reminder removed" in page and not Reminder.objects.exists()
