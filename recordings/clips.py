"""Clips: up to a minute of a replay (or, while the Space is live, of its last minute), with a title.

Anyone who may play the replay may cut one (live: anyone in the room, while it records); the host can turn
clips off and remove any clip of their Space, and whoever cut a clip can remove it. A clip is a remux of the
recording's packets: its length is exact to the packet (20 ms).
"""

from __future__ import annotations

import tempfile

from django.core.files import File
from django.db import transaction

import jobs
from accounts import ratelimit
from accounts.models import User
from accounts.validators import describe, first_refused_character
from live.access import entry_refusal
from rooms.services import RoomError

from . import audio, ogg
from .access import listen_refusal
from .models import MAX_CLIP_MS, Clip, Recording
from .storage import clip_name, recordings_storage

CLIP_M4A_TASK = "recordings.tasks.make_clip_m4a"
CLIPS_PER_HOUR = 30


def _clean_title(title: str) -> str:
    char = first_refused_character(title, multiline=False)
    if char is not None:
        raise RoomError(f"The title can't contain {describe(char)}.", field="title")
    title = " ".join(title.split())
    if not title:
        raise RoomError("Give your clip a title.", field="title")
    if len(title) > Clip.TITLE_MAX_LENGTH:
        raise RoomError("A clip's title has at most 100 characters.", field="title")
    return title


def create_clip(space_id: int, actor: User, *, title: str, start: float | None, duration: float) -> Clip:
    """Cut a clip of `duration` seconds from `start` (seconds into the replay). While the Space is live,
    `start` is ignored: the clip ends where the recording is now."""
    if not actor.is_authenticated:
        raise RoomError("Log in to make a clip.")
    recording = Recording.objects.select_related("space").filter(space_id=space_id).first()
    if recording is None or recording.is_removed:
        raise RoomError("This Space has no recording.")
    title = _clean_title(title)
    if not 0 < duration <= MAX_CLIP_MS / 1000:
        raise RoomError(f"A clip is at most {MAX_CLIP_MS // 1000} seconds long.", field="duration")
    if not recording.clips_enabled:
        raise RoomError("The host turned clips off for this Space.")
    count = audio.packet_index(duration * 1000)
    if recording.is_ready:
        refusal = listen_refusal(recording, actor)
        if refusal:
            raise RoomError(refusal)
        total = audio.packet_index(recording.duration_ms) + 1
        first = audio.packet_index((start or 0) * 1000)
        if first < 0 or first >= total:
            raise RoomError("That moment isn't in the replay.", field="start")
        count = min(count, total - first)
        source = _replay_packets(recording)
    elif recording.state == Recording.State.RECORDING and recording.space.is_live:
        refusal = entry_refusal(recording.space, actor)
        if refusal:
            raise RoomError(refusal)
        segments = list(recording.segments.prefetch_related("chunks"))
        available = audio.shipped_packets(segments)
        if not available:
            raise RoomError("Nothing has been recorded yet. Try again in a few seconds.")
        count = min(count, available)
        first = available - count
        source = audio.join(segments, audio.Joined())
    else:
        raise RoomError("The replay isn't ready yet.")
    if not ratelimit.allow("clip", actor.pk, limit=CLIPS_PER_HOUR, window=3600):
        raise RoomError("You've made many clips in the last hour. Try again later.")
    return _save(recording, actor, title, first, count, source)


def _replay_packets(recording: Recording):  # noqa: ANN202  (a generator of packets)
    with recordings_storage().open(recording.audio, "rb") as replay:
        yield from ogg.read_packets(replay)  # type: ignore[arg-type]  # a storage File is a binary file


def _save(recording: Recording, actor: User, title: str, first: int, count: int, source) -> Clip:  # noqa: ANN001
    storage = recordings_storage()
    with tempfile.TemporaryFile() as out:
        written = audio.write_ogg(audio.cut(source, first, count), out, title=title)
        out.seek(0)
        with transaction.atomic():
            clip = Clip.objects.create(
                recording=recording,
                created_by=actor,
                title=title,
                start_ms=first * audio.PACKET_MS,
                duration_ms=max(round(ogg.duration_of(written) * 1000), 1),
            )
            clip.audio = storage.save(clip_name(recording.space_id, clip.pk, "ogg"), File(out))
            clip.audio_size = storage.size(clip.audio)
            clip.save(update_fields=["audio", "audio_size"])
            jobs.enqueue(CLIP_M4A_TASK, clip.pk)
    return clip


def delete_clip(clip_id: int, actor: User) -> Clip:
    """The Space's host, or whoever cut it, removes a clip (files included)."""
    with transaction.atomic():
        clip = Clip.objects.select_for_update().select_related("recording__space").filter(pk=clip_id).first()
        if clip is None:
            raise RoomError("This clip doesn't exist.")
        if not actor.is_authenticated or actor.pk not in (clip.created_by_id, clip.recording.space.host_id):
            raise RoomError("Only the host or whoever made the clip can remove it.")
        remove_clip(clip.pk)
    return clip


def remove_clip(clip_id: int) -> None:
    """Delete a clip and, once that commits, its files (through the outbox). Staff use it from the admin."""
    with transaction.atomic():
        clip = Clip.objects.select_for_update().filter(pk=clip_id).first()
        if clip is None:
            return
        clip.delete()  # its files go through the outbox (recordings.receivers)
