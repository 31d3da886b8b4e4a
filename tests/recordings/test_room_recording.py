"""Recording in the live room: the host's choice on the Space form or its switch in the room, REC in every
snapshot, each person's consent, and the replay's clock (a pause is cut out)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from live import protocol, stage
from recordings import services
from recordings.models import Recording
from rooms.models import Participant, Space
from tests.live.client import RoomClient, comparable
from tests.live.roomkit import act, close_all, join, live_space, put_on_stage, receive_event

Role = Participant.Role


@pytest.mark.django_db
def test_the_space_form_has_a_record_checkbox(alice):
    client = Client()
    client.force_login(alice)
    form = client.get("/spaces/new/").content.decode()
    assert 'type="checkbox" name="record"' in form and "Record this Space" in form

    client.post("/spaces/new/", {"title": "Recorded from the start", "when": "now", "record": "on"})
    space = Space.objects.get()
    assert space.record and space.is_live
    recording = Recording.objects.get(space=space)
    assert recording.state == Recording.State.RECORDING and recording.on_since == space.started_at
    # While live, the room's own switch turns recording on and off: the form no longer offers it.
    assert 'name="record"' not in client.get(f"/spaces/{space.pk}/edit/").content.decode()


@pytest.mark.django_db
def test_a_scheduled_space_can_be_set_to_record_when_edited(alice):
    client = Client()
    client.force_login(alice)
    later = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    client.post("/spaces/new/", {"title": "Later", "when": "later", "scheduled_for": later})
    space = Space.objects.get()
    assert not space.record
    client.post(f"/spaces/{space.pk}/edit/", {"title": "Later", "scheduled_for": later, "record": "on"})
    space.refresh_from_db()
    assert space.record and not Recording.objects.exists()  # nothing is recorded before it starts


@pytest.mark.django_db(transaction=True)
async def test_the_host_switches_recording_and_a_speaker_keeps_their_voice_out(stop_hub, alice, bob, carol):
    from channels.db import database_sync_to_async

    def arrange() -> Space:
        space = live_space(alice)
        put_on_stage(space, bob, Role.SPEAKER)
        return space

    space = await database_sync_to_async(arrange)()
    host, first = await join(space.pk, alice)
    speaker, _ = await join(space.pk, bob)
    listener, listener_snapshot = await join(space.pk, carol)
    try:
        assert first["space"]["recording"] is False
        view = RoomClient(listener_snapshot)

        await act(listener, "set_recording", on=True)
        refused = await receive_event(listener, "error")
        assert refused["reason"] == "Only the host can start or stop recording."

        await act(host, "set_recording", on=True)
        changed = await receive_event(listener, "recording_changed")
        assert (changed["recording"], changed["by"]) == (True, "alice")
        view.receive(changed)

        await act(host, "record_my_voice", on=False)
        assert "covers your voice" in (await receive_event(host, "error"))["reason"]

        await act(speaker, "record_my_voice", on=False)
        consent = await receive_event(listener, "voice_consent_changed")
        assert (consent["user"], consent["record_voice"]) == ("bob", False)
        view.receive(consent)

        fresh = await database_sync_to_async(lambda: json.loads(protocol.encode(stage.snapshot(space.pk, carol))))()
        assert fresh["space"]["recording"] is True
        assert {p["user"]: p["record_voice"] for p in fresh["speakers"]} == {"alice": True, "bob": False}
        assert comparable(view.state) == comparable(fresh)  # the deltas bring a client to the same room
    finally:
        await close_all(host, speaker, listener)

    plan = await database_sync_to_async(services.plan)(space.pk)
    assert plan.on and plan.declined == frozenset({bob.pk})


@pytest.mark.django_db
def test_a_pause_is_cut_from_the_replays_clock(alice):
    space = live_space(alice, record=True)
    start = space.started_at
    recording = Recording.objects.get(space=space)
    assert services.replay_position_ms(recording, start + timedelta(seconds=10)) == 10_000

    with_lock = Space.objects.select_for_update
    services.switch(with_lock().get(pk=space.pk), on=False, at=start + timedelta(seconds=10))
    services.switch(with_lock().get(pk=space.pk), on=True, at=start + timedelta(seconds=30))
    recording.refresh_from_db()
    # 10 s recorded, 20 s paused, then 5 s more: the replay is at 15 s.
    assert services.replay_position_ms(recording, start + timedelta(seconds=35)) == 15_000


@pytest.mark.django_db(transaction=True)
def test_the_record_migration_reverses():
    executor = MigrationExecutor(connection)
    executor.migrate([("recordings", None), ("rooms", "0005_printable_titles")])
    executor.loader.build_graph()
    columns = [
        column.name for column in connection.introspection.get_table_description(connection.cursor(), "rooms_space")
    ]
    assert "record" not in columns
    executor.migrate(executor.loader.graph.leaf_nodes())
    columns = [
        column.name for column in connection.introspection.get_table_description(connection.cursor(), "rooms_space")
    ]
    assert "record" in columns
