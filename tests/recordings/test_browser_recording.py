"""Recording in Chromium on the real pages: REC in the room, the host's Record switch, a listener told before
their microphone can open (and keeping their voice out), and the replay page's player with its script."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from recordings.models import Clip
from rooms.models import Participant, Space
from tests.browsers import chromium_browser
from tests.e2e.conftest import problems, room_is_connected, visit
from tests.live.roomkit import live_space
from tests.recordings.factory import recorded_space, recording_of
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, Server, free_port

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback_ice"),
]


@pytest.fixture
async def chromium(tmp_path):
    async with chromium_browser(tmp_path) as browser:
        yield browser


@pytest.fixture(autouse=True)
async def _release_database_connections():
    from django.db import connections

    yield
    await database_sync_to_async(connections.close_all)()


@pytest.fixture(scope="module")
def shared_recordings(tmp_path_factory):
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(autouse=True)
def recordings_storage(settings, shared_recordings, tmp_path):
    """The server below and this test process read and write the same recordings folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                       "OPTIONS": {"location": str(shared_recordings)}},
    }  # fmt: skip
    settings.SPACES_RECORDING_SPOOL_DIR = tmp_path / "spool"
    return shared_recordings


@pytest.fixture(scope="module")
def room_server(django_db_setup, tmp_path_factory, shared_recordings):
    port = free_port()
    env = {"SPACES_MEDIA_IN_PROCESS": "True", "DEBUG": "True", "LOG_LEVEL": "WARNING",
           "SPACES_RECORDINGS_DIR": str(shared_recordings), "SPACES_RECORDING_CHUNK_SECONDS": "1"}  # fmt: skip
    server = Server(["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                    tmp_path_factory.mktemp("runserver") / "server.log", port=port, env=env)  # fmt: skip
    try:
        server.wait_listening()
        yield server
    finally:
        server.kill()


async def test_a_listener_is_told_before_going_on_stage_and_keeps_their_voice_out(room_server, chromium, alice, bob):
    space = await database_sync_to_async(live_space)(alice, record=True)
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob)
    await room_is_connected(page)
    await page.locator("#room .rec-pill").wait_for(state="visible")

    await page.locator('[data-controls] button[data-action="request_to_speak"]').click()
    told = page.locator("dialog[open]")
    await told.wait_for(state="visible")
    assert "This Space is being recorded" in await told.inner_text()
    # Nothing was asked of the room yet: the word comes first.
    row = await database_sync_to_async(Participant.objects.filter(space=space, user=bob).first)()
    assert row is None or row.requested_at is None

    await told.locator('button[value="no"]').click()
    await page.locator('[data-controls] button[data-action="cancel_request"]').wait_for(state="visible")
    row = await database_sync_to_async(Participant.objects.get)(space=space, user=bob)
    assert row.requested_at is not None and row.record_voice is False
    assert await problems(page) == []


async def test_the_host_starts_recording_from_the_room(room_server, chromium, alice, tmp_path):
    space = await database_sync_to_async(live_space)(alice)
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", alice)
    await room_is_connected(page)
    assert not await page.locator("#room .rec-pill").is_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Record", exact=True).click()
    await page.locator("#room .rec-pill").wait_for(state="visible")
    await page.get_by_role("button", name="Stop recording").wait_for(state="visible")
    await page.screenshot(path=str(tmp_path / "room.png"))
    assert (await database_sync_to_async(Space.objects.get)(pk=space.pk)).record

    # A clip of what was just said, from the room (the page's audio records; chunks ship every second).
    await page.wait_for_timeout(3000)
    page.once("dialog", lambda dialog: dialog.accept("Just now"))
    await page.get_by_role("button", name="Clip the last 30 s").click()
    await page.locator("[data-status] a", has_text="open it").wait_for(state="visible", timeout=15000)
    clip = await database_sync_to_async(lambda: Clip.objects.select_related("recording").get())()
    assert clip.title == "Just now" and clip.recording.space_id == space.pk and 1.0 < clip.duration <= 30.0
    assert await problems(page) == []


async def test_the_replay_page_plays_seeks_and_shares(room_server, chromium, alice, bob, tmp_path):
    recording = await database_sync_to_async(
        lambda: recording_of(recorded_space(alice, tmp_path / "spool", seconds=6))
    )()
    page = await visit(chromium, room_server, f"/spaces/{recording.space_id}/replay/?t=2", bob)
    await page.wait_for_function("() => document.querySelector('[data-player]').readyState >= 1")
    duration = await page.evaluate("() => document.querySelector('[data-player]').duration")
    assert abs(duration - recording.duration) < 0.3
    assert await page.locator("[data-waveform]").is_visible()

    await page.locator('[data-speed="1.5"]').click()
    assert await page.evaluate("() => document.querySelector('[data-player]').playbackRate") == 1.5
    await page.evaluate(
        "() => { const p = document.querySelector('[data-player]'); p.muted = true; p.currentTime = 3; }"
    )
    await page.locator("[data-share-moment]").click()
    await page.wait_for_function("() => document.querySelector('[data-share-output]').textContent !== ''")
    shared = await page.locator("[data-share-output]").inner_text()
    assert "t=3" in shared or shared == "Link copied."
    await page.screenshot(path=str(tmp_path / "replay.png"), full_page=True)
    assert await problems(page) == []
