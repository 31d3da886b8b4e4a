"""A staff ban reaches the banned user's Spaces and sockets, not only their log-in."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as accounts
from rooms import services
from rooms.models import Space
from tests.live.roomkit import live_space

pytestmark = pytest.mark.django_db


def test_banning_a_host_ends_their_live_space_and_cancels_the_scheduled_ones(alice, broadcasts):
    live = live_space(alice)
    later = services.create_space(alice, title="Tomorrow", scheduled_for=timezone.now() + timedelta(days=1))

    accounts.ban(alice)

    live.refresh_from_db()
    later.refresh_from_db()
    assert live.state == Space.State.ENDED
    assert later.state == Space.State.CANCELLED
    assert ("space_ended", {"reason": "host_banned"}) in [(name, data) for _, name, data in broadcasts]


def test_banning_from_the_admin_ends_the_hosts_space(client, alice):
    from accounts.models import User

    space = live_space(alice)
    staff = User.objects.create_superuser(handle="root", email="root@example.com", password="pw")
    client.force_login(staff)
    client.post("/admin/accounts/user/", {"action": "ban_users", "_selected_action": [alice.pk]})
    space.refresh_from_db()
    assert space.state == Space.State.ENDED
    assert client.get(f"/spaces/{space.pk}/").status_code == 404
