"""A Space's recording: the segments media workers wrote while it was live, the replay made from them, clips
cut from it, and each host's podcast feed.

Files live in the `recordings` storage (recordings.storage); rows keep their names. Removing a recording
(the host, staff, the retention job) deletes its files and keeps the row as a tombstone, so the replay page
can say what happened and nothing records into it again.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models
from django.urls import reverse

from accounts.validators import single_line_text
from rooms.models import Space

MAX_CLIP_MS = 60_000


class Recording(models.Model):
    class State(models.TextChoices):
        RECORDING = "recording", "Recording"  # the Space is live (recording on or paused)
        FINALISING = "finalising", "Finalising"  # the Space ended; the replay is being made
        READY = "ready", "Ready"
        EMPTY = "empty", "Nothing was recorded"
        REMOVED = "removed", "Removed"

    class Removal(models.TextChoices):
        HOST = "deleted_by_host", "Deleted by the host"
        STAFF = "taken_down", "Taken down by staff"
        EXPIRED = "expired", "Past the retention period"

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="recording")
    state = models.CharField(max_length=12, choices=State.choices, default=State.RECORDING, db_index=True)
    # The replay's clock counts recorded time only: a pause is cut out, a media worker's crash is silence.
    # `on_since` is when the current stretch of recording began (None while paused); `recorded_before_ms`
    # the length of the earlier stretches.
    on_since = models.DateTimeField(null=True, blank=True)
    recorded_before_ms = models.BigIntegerField(default=0)
    # Ticketed Spaces: the replay is for ticket holders unless the host makes it public.
    is_public = models.BooleanField(default=False, help_text="Anyone may play the replay of a ticketed Space.")
    clips_enabled = models.BooleanField(default=True)

    audio = models.CharField(max_length=255, blank=True, help_text="The replay, Ogg Opus, in the recordings storage.")
    audio_size = models.BigIntegerField(default=0)
    m4a = models.CharField(max_length=255, blank=True, help_text="An AAC copy for podcast apps.")
    m4a_size = models.BigIntegerField(default=0)
    duration_ms = models.BigIntegerField(default=0)
    peaks = models.JSONField(default=list, blank=True)  # 0..100 per bar, for the waveform
    timeline = models.JSONField(default=list, blank=True)  # [{"user", "name", "start", "end"}] in seconds
    reactions = models.JSONField(default=list, blank=True)  # [[second, emoji, count]]

    plays = models.PositiveIntegerField(default=0)
    downloads = models.PositiveIntegerField(default=0, help_text="Whole-file fetches of the M4A (podcast apps).")
    created_at = models.DateTimeField(auto_now_add=True)
    # A finalise or AAC run claims the row: a second run (the outbox re-sends long jobs) waits its turn.
    processing_since = models.DateTimeField(null=True, blank=True)
    finalised_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removal = models.CharField(max_length=20, choices=Removal.choices, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state="removed") | models.Q(removed_at__isnull=False),
                name="recording_removed_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(recorded_before_ms__gte=0), name="recording_recorded_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Recording of {self.space}"

    def get_absolute_url(self) -> str:
        return reverse("recordings:replay", args=[self.space_id])

    @property
    def is_ready(self) -> bool:
        return self.state == self.State.READY

    @property
    def is_removed(self) -> bool:
        return self.state == self.State.REMOVED

    @property
    def duration(self) -> float:
        return self.duration_ms / 1000

    @property
    def is_open_to_all(self) -> bool:
        """Anyone who may see the Space may play it (not ticketed, or the host opened it)."""
        return not self.space.is_ticketed or self.is_public


class Segment(models.Model):
    """What one media worker recorded of a Space without a break, shipped in chunks as it went."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="segments")
    key = models.CharField(max_length=32, unique=True)  # the worker's name for it (spool files, storage path)
    worker = models.CharField(max_length=120, blank=True)
    started_at = models.DateTimeField()  # wall time of its first packet
    offset_ms = models.BigIntegerField()  # where its first packet falls on the replay's clock
    closed_at = models.DateTimeField(null=True, blank=True)
    last_chunk_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["offset_ms", "pk"]

    def __str__(self) -> str:
        return f"Segment {self.key} of {self.recording}"


class Chunk(models.Model):
    """A few seconds of a segment: whole Ogg pages (the first chunk starts with the stream's headers)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    size = models.PositiveIntegerField(default=0)
    first_packet = models.PositiveIntegerField()  # within the segment; a packet is 20 ms
    packets = models.PositiveIntegerField()
    speakers = models.JSONField(default=list, blank=True)  # [[user_id, first packet, last packet]]
    reactions = models.JSONField(default=list, blank=True)  # [[packet, emoji]]

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["segment", "index"], name="chunk_unique_index")]

    def __str__(self) -> str:
        return f"Chunk {self.index} of segment {self.segment_id}"


class Clip(models.Model):
    TITLE_MAX_LENGTH = 100

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="clips")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips")
    title = models.CharField(max_length=TITLE_MAX_LENGTH, validators=[MinLengthValidator(1), single_line_text])
    start_ms = models.BigIntegerField()
    duration_ms = models.PositiveIntegerField()
    audio = models.CharField(max_length=255, blank=True)
    audio_size = models.PositiveIntegerField(default=0)
    m4a = models.CharField(max_length=255, blank=True)
    m4a_size = models.PositiveIntegerField(default=0)
    plays = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(duration_ms__gt=0, duration_ms__lte=MAX_CLIP_MS), name="clip_at_most_a_minute"
            ),
            models.CheckConstraint(condition=models.Q(start_ms__gte=0), name="clip_starts_in_the_recording"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("recordings:clip", args=[self.pk])

    @property
    def duration(self) -> float:
        return self.duration_ms / 1000


class PodcastFeed(models.Model):
    """A host's podcast feed settings (/u/<handle>/podcast.xml). No row: the feed is on, not explicit."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="podcast_feed")
    enabled = models.BooleanField(default=True)
    explicit = models.BooleanField(default=False, help_text="Tell podcast apps the feed has explicit content.")

    def __str__(self) -> str:
        return f"Podcast of {self.owner}"
