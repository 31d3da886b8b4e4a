"""A recording's life: switched on and off with the Space, finalised when it ends, settings the host changes,
and removal (host, staff, retention), which deletes the files as well as hiding the row.

The live room owns the switch (live.recording: `set_recording`, `record_my_voice`, with their deltas); this
module keeps the bookkeeping the replay needs, from rooms' lifecycle signals and live's `recording_switched`
(recordings.receivers). Every function here runs inside the caller's transaction when there is one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import jobs
from accounts.models import User
from live import chat, modlog
from rooms.models import Participant, Space
from rooms.services import RoomError

from .handoff import Plan
from .models import Chunk, Clip, Recording

logger = logging.getLogger(__name__)

FINALISE_TASK = "recordings.tasks.finalise"
PURGE_TASK = "recordings.tasks.purge_files"


# --- Switching, from the Space's lifecycle ----------------------------------------------------------------


def space_started(space: Space) -> None:
    """A Space created or scheduled with "Record this Space" goes live: recording starts with it."""
    if space.record:
        switch(space, on=True, at=space.started_at or timezone.now())


def switch(space: Space, *, on: bool, at: datetime) -> Recording | None:
    """Recording turned on or off at `at` (the Space row is locked by the caller). Off with no recording
    yet is nothing."""
    recording = Recording.objects.select_for_update().filter(space=space).first()
    if recording is None:
        if not on:
            return None
        recording = Recording.objects.create(space=space, on_since=at)
        return recording
    if recording.is_removed:
        return recording  # a removed recording is never recorded into again
    if on and recording.on_since is None:
        recording.on_since = at
    elif not on and recording.on_since is not None:
        recording.recorded_before_ms += _ms(at - recording.on_since)
        recording.on_since = None
    recording.save(update_fields=["on_since", "recorded_before_ms"])
    return recording


def space_ended(space: Space) -> None:
    """The Space ended: close the last stretch and make the replay (recordings.tasks.finalise, through the
    outbox, so a dead broker loses nothing)."""
    recording = Recording.objects.select_for_update().filter(space=space).first()
    if recording is None or recording.state != Recording.State.RECORDING:
        return
    switch(space, on=False, at=space.ended_at or timezone.now())
    recording.refresh_from_db()
    recording.state = Recording.State.FINALISING
    recording.save(update_fields=["state"])
    jobs.enqueue(FINALISE_TASK, recording.pk)


# --- What the media engine asks -------------------------------------------------------------------------


def plan(space_id: int) -> Plan | None:
    """The room's recording plan, or None when it has no recording (or it was removed)."""
    recording = (
        Recording.objects.filter(space_id=space_id, state=Recording.State.RECORDING, space__state=Space.State.LIVE)
        .only("pk", "on_since")
        .first()
    )
    if recording is None:
        return None
    declined = Participant.objects.filter(space_id=space_id, record_voice=False).exclude(role=Participant.Role.HOST)
    return Plan(recording.pk, recording.on_since is not None, frozenset(declined.values_list("user_id", flat=True)))


def replay_position_ms(recording: Recording, at: datetime) -> int:
    """Where wall time `at` falls on the replay's clock (recorded time only)."""
    if recording.on_since is None:
        return recording.recorded_before_ms
    return recording.recorded_before_ms + max(_ms(at - recording.on_since), 0)


# --- The host's settings -----------------------------------------------------------------------------------


def _host_recording(space_id: int, actor: User) -> Recording:
    recording = Recording.objects.select_for_update().select_related("space").filter(space_id=space_id).first()
    if recording is None or recording.is_removed:
        raise RoomError("This Space has no recording.")
    if not actor.is_authenticated or actor.pk != recording.space.host_id:
        raise RoomError("Only the host can do that.")
    return recording


def update_settings(
    space_id: int, actor: User, *, is_public: bool | None = None, clips: bool | None = None
) -> Recording:
    """The host opens a ticketed replay to everyone (or closes it) and turns clips on or off."""
    with transaction.atomic():
        recording = _host_recording(space_id, actor)
        if is_public is not None:
            recording.is_public = is_public
        if clips is not None:
            recording.clips_enabled = clips
        recording.save(update_fields=["is_public", "clips_enabled"])
    return recording


def count_play(space_id: int) -> None:
    """The replay page's player started (its script says so once per page view)."""
    Recording.objects.filter(space_id=space_id, state=Recording.State.READY).update(plays=F("plays") + 1)


# --- Removal -----------------------------------------------------------------------------------------------


def delete_by_host(space_id: int, actor: User) -> Recording:
    with transaction.atomic():
        recording = _host_recording(space_id, actor)
        if recording.state == Recording.State.RECORDING:
            raise RoomError("This Space is still live. Stop recording in the room, then delete it once it ends.")
        remove(recording, Recording.Removal.HOST)
    return recording


def take_down(recording: Recording, staff: User) -> None:
    """Staff take a recording down (admin): the same removal, recorded as theirs."""
    if not staff.is_staff:
        raise RoomError("Only staff can take a recording down.")
    with transaction.atomic():
        locked = Recording.objects.select_for_update().get(pk=recording.pk)
        if not locked.is_removed:
            remove(locked, Recording.Removal.STAFF)
            modlog.record(locked.space_id, staff, modlog.Action.TAKE_DOWN, as_staff=True)  # the moderation log
    logger.info("recording %s taken down by %s", recording.pk, staff.pk)


def remove(recording: Recording, why: str) -> None:
    """Delete a recording's files (replay, segments, clips) and keep the row as a tombstone. Runs in the
    caller's transaction; the files go once it commits, through the outbox, so a storage outage delays
    the deletion but never forgets it."""
    names = [name for name in (recording.audio, recording.m4a) if name]
    names += list(Chunk.objects.filter(segment__recording=recording).values_list("name", flat=True))
    for clip in Clip.objects.filter(recording=recording):
        clip.delete()  # its files go through the outbox (recordings.receivers)
    recording.segments.all().delete()
    recording.state = Recording.State.REMOVED
    recording.removal = why
    recording.removed_at = timezone.now()
    recording.on_since = None
    recording.audio = recording.m4a = ""
    recording.audio_size = recording.m4a_size = 0
    recording.peaks, recording.timeline, recording.reactions = [], [], []
    recording.save()
    if names:
        jobs.enqueue(PURGE_TASK, names)


def expire(now: datetime | None = None) -> int:
    """Remove every replay older than SPACES_RECORDING_RETENTION_DAYS (0 keeps them forever), and the chat of
    every Space that ended before then (live.chat; the moderation log and reports stay)."""
    days = settings.SPACES_RECORDING_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = 0
    done = [Recording.State.READY, Recording.State.EMPTY, Recording.State.FINALISING]
    for pk in Recording.objects.filter(state__in=done, space__ended_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            recording = Recording.objects.select_for_update().filter(pk=pk, state__in=done).first()
            if recording is not None:
                remove(recording, Recording.Removal.EXPIRED)
                expired += 1
    chat.delete_messages_ended_before(cutoff)
    return expired


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)
