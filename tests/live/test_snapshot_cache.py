"""Anonymous visitors share one snapshot per Space and seq: a crowd costs the database little, and never
sees a room older than the deltas it will be sent."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from live import chat, stage
from rooms.models import Space
from tests.live.roomkit import live_space, put_on_stage

pytestmark = pytest.mark.django_db


def test_a_crowd_of_anonymous_visitors_reads_the_room_once(alice, bob):
    space = live_space(alice)
    put_on_stage(space, bob, muted=False)
    first = stage.snapshot(space.pk, AnonymousUser())
    with CaptureQueriesContext(connection) as later:
        again = stage.snapshot(space.pk, AnonymousUser())
    assert again == first
    assert len(later.captured_queries) == 2  # the seq and the Space: nothing else while the seq stands


def test_every_change_is_seen_by_the_next_anonymous_visitor(alice, bob):
    space = live_space(alice)
    put_on_stage(space, bob, muted=False)
    before = stage.snapshot(space.pk, AnonymousUser())
    stage.mute(space, alice, "bob")
    after = stage.snapshot(space.pk, AnonymousUser())
    assert after.seq > before.seq
    assert [speaker.is_muted for speaker in after.speakers if speaker.user == "bob"] == [True]
    chat.chat(space, alice, "Welcome, everyone")
    latest = stage.snapshot(space.pk, AnonymousUser())
    assert [message.text for message in latest.chat.messages] == ["Welcome, everyone"]


def test_the_listener_count_is_current_even_when_the_room_is_not(alice):
    space = live_space(alice)
    stage.snapshot(space.pk, AnonymousUser())
    Space.objects.filter(pk=space.pk).update(listener_count=42)
    assert stage.snapshot(space.pk, AnonymousUser()).listener_count == 42


def test_a_logged_in_visitor_gets_their_own_snapshot(alice, bob):
    space = live_space(alice)
    stage.snapshot(space.pk, AnonymousUser())
    mine = stage.snapshot(space.pk, bob)
    assert mine.me is not None and mine.me.user == "bob"
