"""Where recordings live: Django's `recordings` storage (settings.STORAGES), the local filesystem on the
embedded default and any S3-compatible store in production (django-storages)."""

from __future__ import annotations

from django.core.files.storage import Storage, storages


def recordings_storage() -> Storage:
    """The `recordings` storage, looked up when used (tests swap STORAGES)."""
    return storages["recordings"]


def is_local(storage: Storage | None = None) -> bool:
    """A filesystem storage: the site serves its files itself (with Range). Anything else hands out URLs."""
    from django.core.files.storage import FileSystemStorage

    return isinstance(storage or recordings_storage(), FileSystemStorage)


def segment_chunk_name(space_id: int, recording_id: int, segment_key: str, index: int) -> str:
    return f"spaces/{space_id}/rec-{recording_id}/segments/{segment_key}/{index:06d}.ogg"


def replay_name(space_id: int, recording_id: int, extension: str) -> str:
    return f"spaces/{space_id}/rec-{recording_id}/replay.{extension}"


def clip_name(space_id: int, clip_id: int, extension: str) -> str:
    return f"spaces/{space_id}/clips/clip-{clip_id}.{extension}"
