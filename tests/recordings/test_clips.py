"""Clips: up to a minute of a replay (or, live, of the last minute), exact to the packet, shared with Open
Graph audio tags; the host turns clips off and removes any; their files go with them."""

from __future__ import annotations

import pytest
from django.core.files.storage import storages
from django.test import Client

from recordings.models import Clip
from tests.live.roomkit import live_space
from tests.recordings.audio_checks import decode, tone_amplitude
from tests.recordings.factory import record_segment, recorded_space, recording_of, tone_packets

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def replay(alice, tmp_path):
    return recording_of(recorded_space(alice, tmp_path / "spool", seconds=70.0))


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_listener_cuts_a_clip_whose_length_is_what_they_asked(replay, bob):
    response = logged_in(bob).post(
        f"/spaces/{replay.space_id}/clips/", {"title": "The best bit", "start": "12.5", "duration": "20"}
    )
    clip = Clip.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/clips/{clip.pk}/"
    assert clip.created_by == bob and clip.start_ms == 12_500
    with storages["recordings"].open(clip.audio, "rb") as stored:
        pcm, _ = decode(stored.read())
    assert abs(len(pcm) / 48000 - 20.0) < 0.1
    assert abs(clip.duration - 20.0) < 0.1
    assert tone_amplitude(pcm[48000:96000], 440.0) > 3000

    page = Client().get(f"/clips/{clip.pk}/").content.decode()
    assert '<meta property="og:title" content="The best bit">' in page
    assert f'<meta property="og:audio" content="http://testserver/clips/{clip.pk}/audio.ogg">' in page
    assert '<meta property="og:audio:type" content="audio/ogg">' in page
    assert "<audio controls" in page


def test_a_clip_is_at_most_a_minute_and_inside_the_replay(replay, bob):
    client = logged_in(bob)
    client.post(f"/spaces/{replay.space_id}/clips/", {"title": "Too long", "start": "0", "duration": "61"})
    client.post(f"/spaces/{replay.space_id}/clips/", {"title": "After the end", "start": "500", "duration": "10"})
    client.post(f"/spaces/{replay.space_id}/clips/", {"title": "", "start": "1", "duration": "10"})
    assert not Clip.objects.exists()
    # A clip that runs past the end stops at the end.
    client.post(f"/spaces/{replay.space_id}/clips/", {"title": "The ending", "start": "65", "duration": "30"})
    assert 4.9 < Clip.objects.get().duration < 5.2


def test_the_host_turns_clips_off_and_removes_any_clip(replay, alice, bob, carol):
    logged_in(bob).post(f"/spaces/{replay.space_id}/clips/", {"title": "Mine", "start": "1", "duration": "5"})
    clip = Clip.objects.get()
    files = [clip.audio, clip.m4a]
    assert all(storages["recordings"].exists(name) for name in files)

    logged_in(carol).post(f"/clips/{clip.pk}/delete/")
    assert Clip.objects.filter(pk=clip.pk).exists()  # not hers
    logged_in(alice).post(f"/clips/{clip.pk}/delete/")
    assert not Clip.objects.exists()
    assert not any(storages["recordings"].exists(name) for name in files)

    logged_in(alice).post(f"/spaces/{replay.space_id}/replay/settings/", {})  # clips unticked
    logged_in(bob).post(f"/spaces/{replay.space_id}/clips/", {"title": "Again", "start": "1", "duration": "5"})
    assert not Clip.objects.exists()


def test_while_live_a_clip_is_the_last_stretch_recorded(alice, bob, tmp_path):
    space = live_space(alice, record=True)
    record_segment(space, tone_packets(8.0, 660.0), tmp_path / "spool")
    response = logged_in(bob).post(f"/spaces/{space.pk}/clips/", {"title": "Just now", "duration": "5", "back": "room"})
    assert response.status_code == 302
    clip = Clip.objects.get()
    assert abs(clip.duration - 5.0) < 0.1
    # The last five seconds of what was recorded, whatever `start` said.
    assert clip.start_ms >= 3000
    with storages["recordings"].open(clip.audio, "rb") as stored:
        pcm, _ = decode(stored.read())
    assert tone_amplitude(pcm[24000:72000], 660.0) > 3000
