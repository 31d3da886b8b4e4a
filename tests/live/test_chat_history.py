"""Older chat over HTTP (`GET /spaces/<id>/room/chat/?before=<id>`), for whoever may read the room, and the
chat's deletion (`live.chat.delete_messages`; the retention job: tests/recordings/test_replay_chat.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import services as accounts
from live import chat
from live.models import ChatMessage, ModerationEntry
from rooms import services as rooms
from tests.live.roomkit import live_space

pytestmark = pytest.mark.django_db


@pytest.fixture
def space(alice, bob):
    space = live_space(alice)
    ChatMessage.objects.bulk_create([ChatMessage(space=space, user=bob, text=f"line {n}") for n in range(120)])
    return space


def test_older_messages_come_50_a_page_oldest_first(space):
    client = Client()  # anonymous visitors of a free live Space read the chat too
    newest = ChatMessage.objects.filter(space=space).order_by("-id").first()
    first = client.get(f"/spaces/{space.pk}/room/chat/?before={newest.pk + 1}").json()
    assert [m["text"] for m in first["messages"]] == [f"line {n}" for n in range(70, 120)]
    second = client.get(f"/spaces/{space.pk}/room/chat/?before={first['before']}").json()
    assert [m["text"] for m in second["messages"]] == [f"line {n}" for n in range(20, 70)]
    third = client.get(f"/spaces/{space.pk}/room/chat/?before={second['before']}").json()
    assert [m["text"] for m in third["messages"]] == [f"line {n}" for n in range(20)]
    assert third["before"] is None
    assert set(first["messages"][0]) == {"id", "user", "user_id", "name", "hue", "text", "sent_at", "deleted_by"}


def test_refusals(space, alice, bob):
    client = Client()
    assert client.get(f"/spaces/{space.pk}/room/chat/?before=abc").status_code == 400
    assert client.get("/spaces/999999/room/chat/").status_code == 404
    accounts.block(alice, bob)
    client.force_login(bob)
    response = client.get(f"/spaces/{space.pk}/room/chat/")
    assert response.status_code == 403 and response.json()["reason"] == "This Space isn't available."


def test_the_chat_of_an_ended_space_stays_readable_until_its_retention(space, alice):
    rooms.end_space(space, alice)
    chat.chat_mute(live_space(alice, title="Another"), alice, "bob")  # a log entry elsewhere
    assert len(Client().get(f"/spaces/{space.pk}/room/chat/").json()["messages"]) == 50
    assert chat.delete_messages(space.pk) == 120
    assert Client().get(f"/spaces/{space.pk}/room/chat/").json()["messages"] == []
    assert ModerationEntry.objects.count() == 1  # the log is kept


def test_the_http_fallback_sends_a_message_too(space, bob):
    client = Client()
    client.force_login(bob)
    response = client.post(f"/spaces/{space.pk}/room/chat/", {"text": "  over HTTP "})
    assert response.json() == {"ok": True, "action": "chat"}
    assert ChatMessage.objects.filter(space=space).order_by("-id").first().text == "over HTTP"
    refused = client.post(f"/spaces/{space.pk}/room/chat/", {"text": "x" * 501})
    assert refused.status_code == 400 and refused.json()["reason"] == "“text” is too long: at most 500 characters."
