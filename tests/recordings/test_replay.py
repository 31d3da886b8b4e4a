"""The replay: its page works before any script runs, its file seeks (HTTP Range), the finalise job measured
it and drew its waveform, ticketed replays are for ticket holders unless the host opens them, the host sees
play counts, and deleting it (host, staff) removes the files from the storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.storage import storages
from django.test import Client
from django.utils import timezone

from payments.models import Ticket
from recordings import services
from recordings.access import replay_refusal
from recordings.models import Recording
from tests.conftest import PASSWORD
from tests.recordings.audio_checks import decode, tone_amplitude
from tests.recordings.factory import recorded_space, recording_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def replay(alice, tmp_path):
    return recording_of(recorded_space(alice, tmp_path / "spool", seconds=4.0))


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_finalise_job_makes_a_replay_with_its_length_waveform_and_aac_copy(replay):
    assert replay.state == Recording.State.READY
    assert 4.0 - 0.01 < replay.duration < 4.6  # the Space went live a moment before the first packet: silence
    assert len(replay.peaks) > 100 and max(replay.peaks) == 100
    storage = storages["recordings"]
    with storage.open(replay.audio, "rb") as ogg_file:
        pcm, _ = decode(ogg_file.read())
    assert tone_amplitude(pcm[48000:96000], 440.0) > 3000
    # The AAC copy for podcast apps is as long as the replay.
    assert replay.m4a and storage.size(replay.m4a) == replay.m4a_size
    with storage.open(replay.m4a, "rb") as m4a_file:
        aac, _ = decode(m4a_file.read())
    assert abs(len(aac) / 48000 - replay.duration) < 0.1
    assert tone_amplitude(aac[48000:96000], 440.0) > 3000
    # The segment's chunks were joined, then deleted.
    assert not replay.segments.exists()
    segments_dir = Path(storage.path(f"spaces/{replay.space_id}/rec-{replay.pk}/segments"))
    assert not [path for path in segments_dir.rglob("*") if path.is_file()]


def test_the_replay_page_plays_without_script(replay):
    page = client_for().get(f"/spaces/{replay.space_id}/replay/?t=2")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<audio controls" in html
    assert f'<source src="/spaces/{replay.space_id}/replay/audio.ogg#t=2" type="audio/ogg; codecs=opus">' in html
    assert f'<source src="/spaces/{replay.space_id}/replay/audio.m4a#t=2" type="audio/mp4">' in html


def test_the_replay_file_answers_range_requests(replay):
    client = client_for()
    url = f"/spaces/{replay.space_id}/replay/audio.ogg"
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    data = b"".join(whole.streaming_content)
    assert len(data) == replay.audio_size

    part = client.get(url, HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-1099/{replay.audio_size}"
    assert b"".join(part.streaming_content) == data[100:1100]

    tail = client.get(url, HTTP_RANGE="bytes=-200")
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == data[-200:]
    open_ended = client.get(url, HTTP_RANGE=f"bytes={replay.audio_size - 10}-")
    assert b"".join(open_ended.streaming_content) == data[-10:]

    beyond = client.get(url, HTTP_RANGE=f"bytes={replay.audio_size}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{replay.audio_size}"


def test_a_ticketed_replay_is_for_ticket_holders_until_the_host_opens_it(replay, alice, bob, carol):
    space = replay.space
    space.is_ticketed = True
    space.save(update_fields=["is_ticketed"])
    Ticket.objects.create(space=space, buyer=bob, state=Ticket.State.PAID, amount=500, currency="usd",
                          fee_amount=15, net_amount=485, paid_at=timezone.now())  # fmt: skip
    url = f"/spaces/{space.pk}/replay/audio.ogg"
    assert client_for(bob).get(url).status_code == 200
    assert client_for(alice).get(url).status_code == 200
    assert client_for(carol).get(url).status_code == 404
    page = client_for(carol).get(f"/spaces/{space.pk}/replay/")
    assert page.status_code == 403 and "for ticket holders" in page.content.decode()

    host = client_for(alice)
    host.post(f"/spaces/{space.pk}/replay/settings/", {"is_public_shown": "1", "is_public": "on", "clips": "on"})
    assert client_for(carol).get(url).status_code == 200
    assert replay_refusal(recording_of(space), AnonymousUser()) is None


def test_the_host_sees_how_often_the_replay_was_played(replay, alice, bob):
    listener = Client(enforce_csrf_checks=True)
    for _ in range(3):
        assert listener.post(f"/spaces/{replay.space_id}/replay/played/").status_code == 204
    assert recording_of(replay.space).plays == 3
    host_page = client_for(alice).get(f"/spaces/{replay.space_id}/replay/").content.decode()
    assert "<strong data-plays>3</strong> plays" in host_page
    assert "data-plays" not in client_for(bob).get(f"/spaces/{replay.space_id}/replay/").content.decode()


def test_the_host_deletes_the_recording_and_its_files_go(replay, alice, bob):
    storage = storages["recordings"]
    files = [replay.audio, replay.m4a]
    assert all(storage.exists(name) for name in files)
    refused = client_for(bob).post(f"/spaces/{replay.space_id}/replay/delete/")
    assert refused.status_code == 302 and recording_of(replay.space).is_ready

    client = client_for(alice)
    client.post(f"/spaces/{replay.space_id}/replay/delete/")
    gone = recording_of(replay.space)
    assert gone.is_removed and gone.removal == Recording.Removal.HOST
    assert not any(storage.exists(name) for name in files)
    assert client_for().get(f"/spaces/{replay.space_id}/replay/").status_code == 410
    assert client_for().get(f"/spaces/{replay.space_id}/replay/audio.ogg").status_code == 404


def test_staff_take_a_recording_down_in_the_admin(replay, make_user):
    staff = make_user("moderator", is_staff=True, is_superuser=True)
    client = Client()
    assert client.login(email=staff.email, password=PASSWORD)
    response = client.post(
        "/admin/recordings/recording/", {"action": "take_down", "_selected_action": [replay.pk]}, follow=True
    )
    assert response.status_code == 200
    removed = recording_of(replay.space)
    assert removed.is_removed and removed.removal == Recording.Removal.STAFF
    assert not storages["recordings"].exists(replay.audio)


def test_retention_removes_old_replays_and_their_files(replay, alice, tmp_path, settings):
    settings.SPACES_RECORDING_RETENTION_DAYS = 30
    storage = storages["recordings"]
    recent = recording_of(recorded_space(alice, tmp_path / "spool", seconds=1.0, title="Recent"))
    space = replay.space
    space.ended_at = timezone.now() - timezone.timedelta(days=31)
    space.save(update_fields=["ended_at"])

    assert services.expire() == 1
    expired = recording_of(space)
    assert expired.is_removed and expired.removal == Recording.Removal.EXPIRED
    assert not storage.exists(replay.audio) and not storage.exists(replay.m4a)
    assert recording_of(recent.space).is_ready and storage.exists(recent.audio)

    settings.SPACES_RECORDING_RETENTION_DAYS = 0  # keeps forever
    recent.space.ended_at = timezone.now() - timezone.timedelta(days=3650)
    recent.space.save(update_fields=["ended_at"])
    assert services.expire() == 0


def test_a_finished_recorded_space_links_to_its_replay_where_it_is_listed(replay, alice):
    link = f'href="/spaces/{replay.space_id}/replay/"'
    assert link in client_for().get(f"/spaces/{replay.space_id}/").content.decode()
    assert link in client_for().get("/u/alice/").content.decode()
    assert link in client_for().get("/search/?q=Recorded").content.decode()


def test_deleting_the_space_deletes_the_recordings_files(replay, bob):
    from django.db import transaction

    logged = client_for(bob)
    logged.post(f"/spaces/{replay.space_id}/clips/", {"title": "A bit", "start": "1", "duration": "2"})
    clip = replay.clips.get()
    names = [replay.audio, replay.m4a, clip.audio, clip.m4a]
    storage = storages["recordings"]
    assert all(storage.exists(name) for name in names)
    with transaction.atomic():
        replay.space.delete()
    assert not any(storage.exists(name) for name in names)
