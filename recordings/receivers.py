"""The recording follows its Space: rooms' lifecycle signals and the room's switch (live.recording).

Each arrives inside the transaction that changed the Space (its row locked), so the bookkeeping commits or
rolls back with it, and the finalise job is written in that same transaction (jobs.enqueue).
"""

from __future__ import annotations

from django.db.models.signals import pre_delete
from django.dispatch import receiver

import jobs
from live.recording import recording_switched
from rooms.signals import space_ended, space_started

from . import services
from .models import Chunk, Clip, Recording


@receiver(space_started, dispatch_uid="recordings.space_started")
def start_recording(sender, space, **kwargs) -> None:
    services.space_started(space)


@receiver(recording_switched, dispatch_uid="recordings.recording_switched")
def follow_the_switch(sender, space, on: bool, at, **kwargs) -> None:
    services.switch(space, on=on, at=at)


@receiver(space_ended, dispatch_uid="recordings.space_ended")
def finish_recording(sender, space, **kwargs) -> None:
    services.space_ended(space)


@receiver(pre_delete, sender=Recording, dispatch_uid="recordings.recording_deleted")
def purge_recording_files(sender, instance: Recording, **kwargs) -> None:
    """A recording deleted with its Space (the admin, an account's deletion): its files go too, through the
    outbox once the deletion commits. Removal through recordings.services keeps the row and does the same."""
    names = [name for name in (instance.audio, instance.m4a) if name]
    names += list(Chunk.objects.filter(segment__recording=instance).values_list("name", flat=True))
    for clip in Clip.objects.filter(recording=instance):
        names += [name for name in (clip.audio, clip.m4a) if name]
    if names:
        jobs.enqueue(services.PURGE_TASK, names)


@receiver(pre_delete, sender=Clip, dispatch_uid="recordings.clip_deleted")
def purge_clip_files(sender, instance: Clip, **kwargs) -> None:
    names = [name for name in (instance.audio, instance.m4a) if name]
    if names:
        jobs.enqueue(services.PURGE_TASK, names)
