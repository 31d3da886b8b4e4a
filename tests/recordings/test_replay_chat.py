"""The room's chat beside the replay: read-only, as text with safe links, without deleted messages; and the
recording's retention deletes the chat of every Space that ended before it (the moderation log and a
report's copy of a message stay)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from live import chat
from live.models import ChatMessage, ModerationEntry
from recordings import services
from reports import services as reports
from reports.models import Report
from rooms import services as rooms
from tests.live.roomkit import live_space
from tests.recordings.factory import recorded_space, recording_of

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> slides: https://example.com/a?b=1&c=2.'


@pytest.fixture
def talk(alice, bob, carol, tmp_path):
    """A recorded Space with a chat: a hostile message, a plain one, one the host deleted."""
    space = recorded_space(alice, tmp_path / "spool", seconds=1.0, end=False)
    chat.chat(space, bob, HOSTILE)
    chat.chat(space, carol, "Great point about latency")
    chat.chat(space, carol, "buy cheap pills")
    spam = ChatMessage.objects.get(space=space, text="buy cheap pills")
    reports.report_message(bob, spam, "spam")
    chat.delete_message(space, alice, spam.pk)
    rooms.end_space(space, alice)
    return recording_of(space)


def chat_section(html: str) -> str:
    found = re.search(r"<section[^>]*data-replay-chat.*?</section>", html, re.S)
    assert found, "the replay shows the chat"
    return found.group(0)


def test_the_replay_shows_the_chat_as_text_with_safe_links(talk):
    assert talk.is_ready
    section = chat_section(Client().get(f"/spaces/{talk.space_id}/replay/").content.decode())
    assert "<script>" not in section and "<img" not in section
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in section
    link = '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow ugc noopener" target="_blank">'
    assert link in section and "</a>." in section  # the full stop ends the sentence, not the address
    assert section.index("slides:") < section.index("Great point about latency")  # oldest first
    assert "@bob" in section and "@carol" in section
    assert "buy cheap pills" not in section  # deleted by the host


def test_no_chat_section_without_messages_or_once_the_replay_is_gone(talk, alice, tmp_path):
    quiet = recording_of(recorded_space(alice, tmp_path / "spool", seconds=1.0))
    assert "data-replay-chat" not in Client().get(f"/spaces/{quiet.space_id}/replay/").content.decode()
    services.delete_by_host(talk.space_id, alice)
    gone = Client().get(f"/spaces/{talk.space_id}/replay/")
    assert gone.status_code == 410 and "data-replay-chat" not in gone.content.decode()


def test_retention_deletes_the_chat_and_keeps_the_log_and_reports(talk, alice, bob):
    recent = live_space(alice, title="Yesterday")
    chat.chat(recent, bob, "still here")
    rooms.end_space(recent, alice)
    space = talk.space
    space.ended_at = timezone.now() - timezone.timedelta(days=31)
    space.save(update_fields=["ended_at"])

    assert services.expire() == 1
    assert not ChatMessage.objects.filter(space=space).exists()
    assert list(ChatMessage.objects.filter(space=recent).values_list("text", flat=True)) == ["still here"]
    assert Client().get(f"/spaces/{space.pk}/room/chat/").json()["messages"] == []
    assert ModerationEntry.objects.filter(space=space, action=ModerationEntry.Action.DELETE_MESSAGE).exists()
    report = Report.objects.get(space=space)
    assert report.message is None and report.message_text == "buy cheap pills"
