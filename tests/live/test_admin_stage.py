"""Staff change the stage from the admin through live.stage: the room hears about it, and the rules hold."""

from __future__ import annotations

import pytest
from django.test import override_settings

from live.admin import StageSeat
from rooms.models import Participant
from tests.live.roomkit import live_space, put_on_stage

pytestmark = pytest.mark.django_db
Role = Participant.Role
PAGE = "/admin/live/stageseat/"


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


def seat(space, user) -> StageSeat:
    return StageSeat.objects.get(space=space, user=user)


def test_muting_from_the_admin_mutes_and_tells_the_room(staff_client, alice, bob, broadcasts):
    space = live_space(alice)
    put_on_stage(space, bob, muted=False)
    response = staff_client.post(PAGE, {"action": "mute", "_selected_action": [seat(space, bob).pk]}, follow=True)
    assert "Done for 1 seat." in response.content.decode()
    assert Participant.objects.get(space=space, user=bob).is_muted
    assert ("speaker_muted", "bob", "admin") in [(name, data["user"], data.get("by")) for _, name, data in broadcasts]


def test_removing_from_the_admin_closes_the_door(staff_client, alice, bob, broadcasts):
    space = live_space(alice)
    put_on_stage(space, bob)
    staff_client.post(PAGE, {"action": "remove", "_selected_action": [seat(space, bob).pk]})
    assert Participant.objects.get(space=space, user=bob).removed_at is not None
    assert "removed" in [name for _, name, _ in broadcasts]


def test_the_admin_cannot_break_the_rules(staff_client, alice, bob, carol, broadcasts):
    space = live_space(alice)
    put_on_stage(space, bob)
    put_on_stage(space, carol)
    with override_settings(SPACES_MAX_COHOSTS=1):
        response = staff_client.post(
            PAGE,
            {"action": "make_cohost", "_selected_action": [seat(space, bob).pk, seat(space, carol).pk]},
            follow=True,
        )
    page = response.content.decode()
    assert "at most 1 co-hosts" in page
    assert Participant.objects.filter(space=space, role=Role.COHOST).count() == 1
    response = staff_client.post(PAGE, {"action": "remove", "_selected_action": [seat(space, alice).pk]}, follow=True)
    assert "The host can&#x27;t be removed." in response.content.decode()


def test_seats_are_not_edited_by_hand(staff_client, alice):
    space = live_space(alice)
    page = staff_client.get(f"{PAGE}{seat(space, alice).pk}/change/").content.decode()
    assert 'name="role"' not in page
    page = staff_client.get(f"/admin/rooms/space/{space.pk}/change/").content.decode()
    assert 'name="participants-0-role"' not in page
