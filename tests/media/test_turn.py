"""ICE servers reach the browser; with TURN_SECRET they carry short-lived TURN REST credentials."""

import base64
import hashlib
import hmac
import json
import re
import time

import pytest

from live.ice import ice_servers
from tests.live.roomkit import live_space

pytestmark = pytest.mark.django_db


def room_ice_servers(client, space) -> list[dict]:
    html = client.get(f"/spaces/{space.pk}/").content.decode()
    match = re.search(r'<script id="room-ice" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the room page embeds its ICE servers"
    return json.loads(match.group(1))


def test_without_a_turn_secret_only_the_configured_stun_servers_are_given(client, settings, alice, bob):
    settings.SPACES_ICE_SERVERS = [{"urls": "stun:stun.example.com:3478"}]
    settings.TURN_SECRET = ""
    settings.TURN_URLS = ["turn:turn.example.com:3478"]
    client.force_login(bob)
    assert room_ice_servers(client, live_space(alice)) == [{"urls": "stun:stun.example.com:3478"}]


def test_with_a_turn_secret_each_user_gets_credentials_that_expire(client, settings, alice, bob):
    settings.SPACES_ICE_SERVERS = []
    settings.TURN_SECRET = "coturn-shared-secret"
    settings.TURN_URLS = ["turn:turn.example.com:3478?transport=udp"]
    settings.TURN_TTL = 300
    client.force_login(bob)
    before = int(time.time())
    [server] = room_ice_servers(client, live_space(alice))

    assert server["urls"] == ["turn:turn.example.com:3478?transport=udp"]
    expiry, user = server["username"].split(":")
    assert user == str(bob.pk)
    assert before + 300 <= int(expiry) <= int(time.time()) + 300  # minutes, not a static password
    # coturn's use-auth-secret scheme: credential = base64(HMAC-SHA1(secret, username)).
    expected = base64.b64encode(hmac.new(b"coturn-shared-secret", server["username"].encode(), hashlib.sha1).digest())
    assert server["credential"] == expected.decode()


def test_credentials_differ_per_user_and_anonymous_listeners_get_their_own(settings):
    settings.TURN_SECRET = "s"
    settings.TURN_URLS = ["turn:t"]
    settings.SPACES_ICE_SERVERS = []
    first, second, anonymous = ice_servers(1, now=1000), ice_servers(2, now=1000), ice_servers(None, now=1000)
    assert first[0]["credential"] != second[0]["credential"]
    assert anonymous[0]["username"].endswith(":guest")
