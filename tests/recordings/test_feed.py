"""The podcast feed, read as a podcast app reads it: feedparser parses /u/<handle>/podcast.xml and every
enclosure is fetched; ticketed replays stay out until the host opens them; the host can switch it off."""

from __future__ import annotations

import feedparser
import pytest
from django.test import Client

from recordings.models import PodcastFeed
from tests.recordings.audio_checks import decode
from tests.recordings.factory import recorded_space, recording_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def replays(alice, tmp_path):
    first = recording_of(recorded_space(alice, tmp_path / "spool", seconds=3.0, title="First talk"))
    second = recording_of(recorded_space(alice, tmp_path / "spool", seconds=5.0, title="Second talk"))
    return first, second


def fetch(path: str) -> feedparser.FeedParserDict:
    response = Client().get(path)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("application/rss+xml")
    parsed = feedparser.parse(response.content)
    parsed["raw"] = response.content.decode()
    return parsed


def test_a_podcast_app_reads_the_feed_and_plays_every_episode(replays, alice):
    feed = fetch("/u/alice/podcast.xml")
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "rss20"
    assert feed.feed.title == "Alice Liddell on Spaces"
    assert feed.feed.author_detail.name == "Alice Liddell" or feed.feed.itunes_author == "Alice Liddell"
    assert feed.feed.image.href == "http://testserver/u/alice/podcast.png"
    assert "<itunes:explicit>no</itunes:explicit>" in feed.raw  # feedparser reads "no" as "not said"
    assert '<itunes:category text="Society &amp; Culture"/>' in feed.raw

    assert [entry.title for entry in feed.entries] == ["Second talk", "First talk"]
    for entry, recording in zip(feed.entries, reversed(replays), strict=True):
        assert entry.id == f"http://testserver/spaces/{recording.space_id}/replay/#recording-{recording.pk}"
        assert entry.guidislink is False
        assert entry.published_parsed is not None
        seconds = round(recording.duration)
        assert entry.itunes_duration == f"0:00:{seconds:02d}"
        (enclosure,) = entry.enclosures
        assert enclosure.type == "audio/mp4"
        response = Client().get(enclosure.href.removeprefix("http://testserver"))
        body = b"".join(response.streaming_content)
        assert response.status_code == 200 and response["Content-Type"] == "audio/mp4"
        assert int(enclosure.length) == len(body)
        pcm, _ = decode(body)
        assert abs(len(pcm) / 48000 - recording.duration) < 0.1
    assert recording_of(replays[0].space).downloads == 1

    artwork = Client().get("/u/alice/podcast.png")
    assert artwork["Content-Type"] == "image/png" and artwork.content.startswith(b"\x89PNG")


def test_ticketed_replays_join_the_feed_only_when_made_public(replays, alice):
    first, _ = replays
    first.space.is_ticketed = True
    first.space.save(update_fields=["is_ticketed"])
    assert [entry.title for entry in fetch("/u/alice/podcast.xml").entries] == ["Second talk"]
    first.is_public = True
    first.save(update_fields=["is_public"])
    assert len(fetch("/u/alice/podcast.xml").entries) == 2


def test_the_host_switches_the_feed_off(replays, alice):
    client = Client()
    client.force_login(alice)
    client.post("/recordings/feed/", {"explicit": "on"})
    assert PodcastFeed.objects.get(owner=alice).enabled is False
    assert Client().get("/u/alice/podcast.xml").status_code == 404
    client.post("/recordings/feed/", {"enabled": "on", "explicit": "on"})
    assert fetch("/u/alice/podcast.xml").feed.itunes_explicit is True
    assert "Second talk" in client.get("/recordings/").content.decode()
