from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from rooms.services import RoomError

from . import clips, services
from .models import Clip, PodcastFeed, Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    """Staff see every recording and can take one down: its files are deleted, the row stays as a tombstone."""

    list_display = ["space", "state", "duration", "plays", "downloads", "is_public", "created_at", "removal"]
    list_filter = ["state", "removal", "is_public"]
    search_fields = ["space__title", "space__host__handle"]
    list_select_related = ["space"]
    raw_id_fields = ["space"]
    readonly_fields = [field.name for field in Recording._meta.fields]
    actions = ["take_down"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Recording | None = None) -> bool:
        return False  # "Take down" deletes the files; deleting the row would leave them in the storage

    @admin.action(description="Take down (delete the audio and its clips)")
    def take_down(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        done = 0
        for recording in queryset:
            try:
                services.take_down(recording, request.user)  # type: ignore[arg-type]
            except RoomError as exc:
                self.message_user(request, f"{recording}: {exc}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"Took down {done} recording(s).", messages.SUCCESS)


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["title", "recording", "created_by", "duration_ms", "plays", "created_at"]
    search_fields = ["title", "created_by__handle", "recording__space__title"]
    raw_id_fields = ["recording", "created_by"]
    readonly_fields = [field.name for field in Clip._meta.fields]
    actions = ["remove_clips"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Clip | None = None) -> bool:
        return False

    @admin.action(description="Remove (delete the audio)")
    def remove_clips(self, request: HttpRequest, queryset: QuerySet[Clip]) -> None:
        for clip in queryset:
            clips.remove_clip(clip.pk)
        self.message_user(request, "Removed.", messages.SUCCESS)


@admin.register(PodcastFeed)
class PodcastFeedAdmin(admin.ModelAdmin):
    list_display = ["owner", "enabled", "explicit"]
    raw_id_fields = ["owner"]
