"""After a Space ends: join its segments into the replay, measure it, draw its waveform, place who spoke and
the reactions on its clock; then (a second job) an AAC copy for podcast apps.

Both run as outbox jobs (jobs.enqueue): they may run twice, or two at once when the outbox re-sends a long
one, so each claims the recording first and a run that finds it claimed fails (the outbox tries it again
later) rather than doing the work twice.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import jobs
from accounts.models import User

from . import audio, ogg
from .models import Clip, Recording, Segment
from .services import PURGE_TASK
from .storage import clip_name, recordings_storage, replay_name

logger = logging.getLogger(__name__)

M4A_TASK = "recordings.tasks.make_m4a"
CLAIM = timedelta(minutes=20)  # a claim older than this belonged to a run that died
SAME_TURN_GAP = 1.5  # seconds of quiet that still count as one turn on the speaker timeline


class Busy(Exception):
    """Another run holds the recording; the outbox will try again."""


def _claim(recording_id: int, state: str) -> bool:
    now = timezone.now()
    stale = Q(processing_since__isnull=True) | Q(processing_since__lt=now - CLAIM)
    return bool(Recording.objects.filter(stale, pk=recording_id, state=state).update(processing_since=now))


def _release(recording_id: int) -> None:
    Recording.objects.filter(pk=recording_id).update(processing_since=None)


def settle_seconds() -> float:
    """How long a segment may stay open with nothing shipped before finalising stops waiting for it."""
    return 3 * settings.SPACES_RECORDING_CHUNK_SECONDS + 5


def wait_for_segments(recording_id: int, limit: float | None = None) -> None:
    """Workers ship a room's last chunk a moment after the Space ends: wait until every segment is closed,
    or has shipped nothing for settle_seconds() (its worker died), at most `limit` seconds."""
    deadline = time.monotonic() + (settle_seconds() if limit is None else limit)
    while time.monotonic() < deadline:
        quiet_since = timezone.now() - timedelta(seconds=settle_seconds())
        waiting = Segment.objects.filter(recording_id=recording_id, closed_at__isnull=True).filter(
            Q(last_chunk_at__gte=quiet_since) | Q(last_chunk_at__isnull=True, started_at__gte=quiet_since)
        )
        if not waiting.exists():
            return
        time.sleep(0.5)


def finalise(recording_id: int) -> str:
    """Make the replay of an ended Space. Returns the recording's state."""
    if not _claim(recording_id, Recording.State.FINALISING):
        state = Recording.objects.filter(pk=recording_id).values_list("state", flat=True).first()
        if state == Recording.State.FINALISING:
            raise Busy(f"recording {recording_id} is being finalised by another run")
        return state or "gone"
    try:
        wait_for_segments(recording_id)
        return _make_replay(Recording.objects.select_related("space").get(pk=recording_id))
    finally:
        _release(recording_id)


def _make_replay(recording: Recording) -> str:
    segments = list(recording.segments.prefetch_related("chunks"))
    joined = audio.Joined()
    storage = recordings_storage()
    with tempfile.TemporaryFile() as replay:
        audio.write_ogg(audio.join(segments, joined), replay, title=recording.space.title)
        if not joined.packets:
            Recording.objects.filter(pk=recording.pk, state=Recording.State.FINALISING).update(
                state=Recording.State.EMPTY, finalised_at=timezone.now()
            )
            return Recording.State.EMPTY
        replay.seek(0)
        waveform = audio.peaks(ogg.read_packets(replay), joined.packets)
        replay.seek(0)
        name = storage.save(replay_name(recording.space_id, recording.pk, "ogg"), File(replay))
    size = storage.size(name)
    chunk_names = [chunk.name for segment in segments for chunk in segment.chunks.all()]
    with transaction.atomic():
        current = Recording.objects.select_for_update().get(pk=recording.pk)
        if current.state != Recording.State.FINALISING:  # removed meanwhile
            transaction.on_commit(lambda: storage.delete(name))
            return current.state
        current.audio, current.audio_size = name, size
        current.duration_ms = round(ogg.duration_of(joined.packets) * 1000)
        current.peaks = waveform
        current.timeline = _timeline(segments, joined)
        current.reactions = _reactions(segments, joined)
        current.state = Recording.State.READY
        current.finalised_at = timezone.now()
        current.processing_since = None  # the AAC job (enqueued below, maybe run at once) claims it next
        current.save()
        current.segments.all().delete()
        if chunk_names:
            jobs.enqueue(PURGE_TASK, chunk_names)
        jobs.enqueue(M4A_TASK, current.pk)
    logger.info("replay of space %s ready: %.1f s", recording.space_id, current.duration_ms / 1000)
    return Recording.State.READY


def _timeline(segments: list[Segment], joined: audio.Joined) -> list[dict]:
    """Who spoke when, in seconds on the replay's clock, nearby turns of one person merged."""
    turns: dict[int, list[list[float]]] = defaultdict(list)
    for segment in segments:
        start = joined.starts.get(segment.pk)
        if start is None:
            continue
        for chunk in segment.chunks.all():
            for user_id, first, last in chunk.speakers:
                turns[int(user_id)].append([(start + first) * 0.02, (start + last + 1) * 0.02])
    users = User.objects.in_bulk(list(turns))
    timeline = []
    for user_id, spans in turns.items():
        user = users.get(user_id)
        if user is None:
            continue
        merged: list[list[float]] = []
        for begin, end in sorted(spans):
            if merged and begin - merged[-1][1] <= SAME_TURN_GAP:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([begin, end])
        for begin, end in merged:
            timeline.append({"user": user.handle, "name": user.name, "start": round(begin, 1), "end": round(end, 1)})
    return sorted(timeline, key=lambda turn: (turn["start"], turn["user"]))


def _reactions(segments: list[Segment], joined: audio.Joined) -> list[list]:
    """Reactions counted per second of the replay: [[second, emoji, count]]."""
    counts: Counter[tuple[int, str]] = Counter()
    for segment in segments:
        start = joined.starts.get(segment.pk)
        if start is None:
            continue
        for chunk in segment.chunks.all():
            for packet, emoji in chunk.reactions:
                counts[(int((start + packet) * 0.02), str(emoji))] += 1
    return [[second, emoji, count] for (second, emoji), count in sorted(counts.items())]


def make_m4a(recording_id: int) -> str:
    """The replay as AAC in M4A, for podcast apps (the feed lists a replay once this exists)."""
    if not _claim(recording_id, Recording.State.READY):
        recording = Recording.objects.filter(pk=recording_id).first()
        if recording is not None and recording.is_ready and not recording.m4a:
            raise Busy(f"recording {recording_id} is being encoded by another run")
        return "skipped"
    try:
        recording = Recording.objects.select_related("space").get(pk=recording_id)
        if recording.m4a:
            return "done already"
        name, size = _encode(
            recording.audio, replay_name(recording.space_id, recording.pk, "m4a"), recording.space.title
        )
        with transaction.atomic():
            updated = Recording.objects.filter(pk=recording_id, state=Recording.State.READY).update(
                m4a=name, m4a_size=size
            )
            if not updated:  # removed while we encoded
                transaction.on_commit(lambda: recordings_storage().delete(name))
        return "done"
    finally:
        _release(recording_id)


def make_clip_m4a(clip_id: int) -> str:
    clip = Clip.objects.select_related("recording").filter(pk=clip_id).first()
    if clip is None or clip.m4a or not clip.audio:
        return "skipped"
    name, size = _encode(clip.audio, clip_name(clip.recording.space_id, clip.pk, "m4a"), clip.title)
    if not Clip.objects.filter(pk=clip_id, m4a="").update(m4a=name, m4a_size=size):
        recordings_storage().delete(name)
    return "done"


def _encode(source_name: str, target_name: str, title: str) -> tuple[str, int]:
    storage = recordings_storage()
    with tempfile.TemporaryFile() as out:
        with storage.open(source_name, "rb") as source:
            audio.to_m4a(source, out, title=title)  # type: ignore[arg-type]  # a storage File is a binary file
        out.seek(0)
        name = storage.save(target_name, File(out))
    return name, storage.size(name)
