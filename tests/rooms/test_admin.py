"""Staff manage Spaces, topics and notifications in the admin; its actions go through rooms.services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from live import events
from rooms.models import Notification, Space, Topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


@pytest.fixture(autouse=True)
def quiet_room(monkeypatch):
    monkeypatch.setattr(events, "emit", lambda *args, **kwargs: None)


def live(host, title: str) -> Space:
    return Space.objects.create(host=host, title=title, state="live", started_at=timezone.now())


def scheduled(host, title: str) -> Space:
    return Space.objects.create(host=host, title=title, scheduled_for=timezone.now() + timedelta(hours=1))


def test_the_space_list_filters_by_state_and_searches(staff_client, alice, bob):
    live(alice, "Alice live")
    scheduled(bob, "Bob later")
    page = staff_client.get("/admin/rooms/space/", {"state__exact": "live"}).content.decode()
    assert "Alice live" in page and "Bob later" not in page
    page = staff_client.get("/admin/rooms/space/", {"q": "bob"}).content.decode()
    assert "Bob later" in page and "Alice live" not in page


def test_end_now_ends_live_spaces_and_reports_the_rest(staff_client, alice, bob):
    on_air, later = live(alice, "On air"), scheduled(bob, "Later")
    response = staff_client.post(
        "/admin/rooms/space/",
        {"action": "end_now", "_selected_action": [on_air.pk, later.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert Space.objects.get(pk=on_air.pk).state == "ended"
    assert Space.objects.get(pk=later.pk).state == "scheduled"
    assert "Ended 1 Space." in page and "can&#x27;t be ended" in page


def test_cancel_cancels_scheduled_spaces(staff_client, alice, bob):
    later = scheduled(bob, "Later")
    staff_client.post("/admin/rooms/space/", {"action": "cancel", "_selected_action": [later.pk]})
    assert Space.objects.get(pk=later.pk).state == "cancelled"


def test_the_space_change_page_shows_the_state_read_only(staff_client, alice):
    space = live(alice, "On air")
    page = staff_client.get(f"/admin/rooms/space/{space.pk}/change/").content.decode()
    assert "On air" in page and 'name="state"' not in page


def test_staff_add_topics(staff_client):
    staff_client.post("/admin/rooms/topic/add/", {"name": "Open source", "slug": "open-source"})
    assert Topic.objects.get().slug == "open-source"


def test_the_notification_admin_lists_notifications(staff_client, alice, bob):
    space = live(alice, "On air")
    Notification.objects.create(recipient=bob, kind="host_live", space=space, text="Alice is live")
    page = staff_client.get("/admin/rooms/notification/", {"kind__exact": "host_live"}).content.decode()
    assert "Alice is live" in page


def test_non_staff_cannot_use_the_admin(client, bob):
    client.force_login(bob)
    assert client.get("/admin/rooms/space/").status_code == 302
