"""The live room page and the HTTP fallbacks for room actions."""

from __future__ import annotations

import json

import pytest

from live import stage
from rooms.models import Participant
from tests.live.roomkit import live_space, put_on_stage

pytestmark = pytest.mark.django_db


@pytest.fixture
def space(alice):
    return live_space(alice, title="Jazz after dark")


def test_a_live_space_page_is_the_room(client, space, bob):
    put_on_stage(space, bob)
    client.force_login(bob)
    response = client.get(f"/spaces/{space.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="room"' in html and f'data-ws="/ws/spaces/{space.pk}/"' in html
    assert "rooms/room.js" in html and 'type="module"' in html
    assert 'data-user="alice"' in html and 'data-user="bob"' in html  # the stage, before any script runs
    initial = json.loads(html.split('id="room-initial" type="application/json">')[1].split("</script>")[0])
    assert initial["me"]["role"] == "speaker"


def test_anonymous_visitors_see_the_room_and_a_login_button(client, space):
    html = client.get(f"/spaces/{space.pk}/room/").content.decode()
    assert 'id="room"' in html
    assert "Log in to request to speak" in html
    assert 'data-action="request_to_speak"' not in html


def test_a_removed_user_is_not_shown_the_room(client, space, alice, bob):
    stage.remove(space, alice, "bob")
    client.force_login(bob)
    response = client.get(f"/spaces/{space.pk}/room/")
    assert response.status_code == 302
    assert 'id="room"' not in client.get(f"/spaces/{space.pk}/").content.decode()


def test_http_fallback_runs_the_same_action(client, space, alice, bob):
    client.force_login(bob)
    response = client.post(f"/spaces/{space.pk}/room/request_to_speak/")
    assert response.json() == {"ok": True, "action": "request_to_speak"}
    response = client.post(f"/spaces/{space.pk}/room/approve_request/", {"user": "bob"})
    assert response.status_code == 400
    assert response.json()["reason"] == "Only the host and co-hosts can do that."
    client.force_login(alice)
    assert client.post(f"/spaces/{space.pk}/room/approve_request/", {"user": "bob"}).status_code == 200
    assert Participant.objects.get(space=space, user=bob).role == "speaker"


def test_http_fallback_refuses_strangers_and_unknown_actions(client, space):
    assert client.post(f"/spaces/{space.pk}/room/request_to_speak/").status_code == 403
    assert client.post(f"/spaces/{space.pk}/room/drop_tables/").status_code == 404
    assert client.get(f"/spaces/{space.pk}/room/mute/").status_code == 405
