"""What a media worker tells the recordings app while it records: a segment begins, a chunk of it is
shipped, it ends. Called from the worker's shipping thread (media.recorder), never from the audio clock.

Each call is idempotent (a chunk shipped twice is stored once), so a worker may retry after a failure
and a worker restarted on the same machine may ship what a crashed one left in the spool.
"""

from __future__ import annotations

from datetime import datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from . import ogg
from .handoff import ChunkData
from .models import Chunk, Recording, Segment
from .services import replay_position_ms
from .storage import recordings_storage, segment_chunk_name


def open_segment(space_id: int, key: str, worker: str, started_at: datetime) -> bool:
    """A worker starts recording the room: place its first packet on the replay's clock. False when the
    room has no recording to write into (turned off, ended or removed meanwhile)."""
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update().filter(space_id=space_id, state=Recording.State.RECORDING).first()
        )
        if recording is None:
            return False
        Segment.objects.get_or_create(
            key=key,
            defaults={
                "recording": recording,
                "worker": worker[:120],
                "started_at": started_at,
                "offset_ms": replay_position_ms(recording, started_at),
            },
        )
    return True


def store_chunk(key: str, chunk: ChunkData) -> bool:
    """Save one chunk to the storage and note it. False when its segment is unknown or its recording was
    removed (the chunk is dropped: nothing records into a removed recording)."""
    segment = Segment.objects.select_related("recording").filter(key=key).first()
    if segment is None or segment.recording.is_removed:
        return False
    if Chunk.objects.filter(segment=segment, index=chunk.index).exists():
        return True
    name = segment_chunk_name(segment.recording.space_id, segment.recording_id, key, chunk.index)
    name = recordings_storage().save(name, ContentFile(chunk.data))
    stored, created = Chunk.objects.get_or_create(
        segment=segment,
        index=chunk.index,
        defaults={
            "name": name,
            "size": len(chunk.data),
            "first_packet": chunk.first_packet,
            "packets": chunk.packets,
            "speakers": chunk.speakers,
            "reactions": chunk.reactions,
        },
    )
    if not created and stored.name != name:  # a twin shipping raced us: ours is a spare copy
        recordings_storage().delete(name)
    Segment.objects.filter(pk=segment.pk).update(last_chunk_at=timezone.now())
    return True


def close_segment(key: str) -> None:
    """The worker stopped recording the room (the Space ended, recording was switched off, the room moved)."""
    Segment.objects.filter(key=key, closed_at__isnull=True).update(closed_at=timezone.now())


def store_orphan(key: str, index: int, data: bytes) -> bool:
    """A chunk a crashed worker left in the spool: its whole pages, placed after the chunks shipped before it
    (what the worker knew about speakers and reactions in it died with it)."""
    data = ogg.whole_pages(data)
    packets = sum(1 for _ in ogg.read_packets(data))
    before = Chunk.objects.filter(segment__key=key, index__lt=index).order_by("-index").first()
    first_packet = before.first_packet + before.packets if before is not None else 0
    return store_chunk(key, ChunkData(index=index, data=data, first_packet=first_packet, packets=packets))
