"""Staff change the stage from the admin through live.stage, so seats, locks and room events hold.

The Space admin (rooms.admin) shows who is on stage read-only; this page lists every seat and acts on
the selected ones with the same functions the room's socket uses, as staff ("who may" checks pass,
every other rule holds: seat limits, the host stays, nobody unmutes anyone else).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from rooms.models import Participant
from rooms.services import RoomError

from . import chat, stage
from .models import ChatMessage, ModerationEntry


class StageSeat(Participant):
    class Meta:
        proxy = True
        verbose_name = "stage seat"
        verbose_name_plural = "stage seats"


@admin.register(StageSeat)
class StageSeatAdmin(admin.ModelAdmin):
    list_display = ["user", "space", "role", "is_muted", "requested_at", "invited_at", "removed_at"]
    list_filter = ["role", "is_muted", ("removed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user", "space"]
    search_fields = ["user__handle", "space__title"]
    raw_id_fields = ["user", "space"]
    actions = ["mute", "move_to_audience", "invite_to_speak", "make_cohost", "take_cohost_back", "remove"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StageSeat]:
        return super().get_queryset(request).filter(space__state="live")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StageSeat | None = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: StageSeat | None = None) -> list[str]:
        # Every change goes through an action below, never a form save.
        return [field.name for field in Participant._meta.fields]

    def _apply(self, request: HttpRequest, queryset: QuerySet[StageSeat], action: Callable[..., None]) -> None:
        done, refused = 0, []
        for seat in queryset.select_related("user", "space"):
            try:
                action(seat.space_id, request.user, seat.user, as_staff=True)
            except RoomError as exc:
                refused.append(f"@{seat.user.handle} in “{seat.space.title}”: {exc}")
            else:
                done += 1
        if done:
            self.message_user(request, f"Done for {done} seat{'s' if done != 1 else ''}.", messages.SUCCESS)
        for refusal in refused:
            self.message_user(request, refusal, messages.WARNING)

    @admin.action(description="Mute", permissions=["change"])
    def mute(self, request: HttpRequest, queryset: QuerySet[StageSeat]) -> None:
        self._apply(request, queryset, stage.mute)

    @admin.action(description="Move to the audience", permissions=["change"])
    def move_to_audience(self, request: HttpRequest, queryset: QuerySet[StageSeat]) -> None:
        self._apply(request, queryset, stage.make_listener)

    @admin.action(description="Invite to speak", permissions=["change"])
    def invite_to_speak(self, request: HttpRequest, queryset: QuerySet[StageSeat]) -> None:
        self._apply(request, queryset, stage.invite_to_speak)

    @admin.action(description="Make co-host", permissions=["change"])
    def make_cohost(self, request: HttpRequest, queryset: QuerySet[StageSeat]) -> None:
        self._apply(request, queryset, stage.add_cohost)

    @admin.action(description="Take the co-host role back", permissions=["change"])
    def take_cohost_back(self, request: HttpRequest, queryset: QuerySet[StageSeat]) -> None:
        self._apply(request, queryset, stage.remove_cohost)

    @admin.action(description="Remove from the Space", permissions=["change"])
    def remove(self, request: HttpRequest, queryset: QuerySet[StageSeat]) -> None:
        self._apply(request, queryset, stage.remove)


@admin.register(ModerationEntry)
class ModerationEntryAdmin(admin.ModelAdmin):
    """The moderation log of every Space, read-only: entries are written by the actions themselves."""

    list_display = ["created_at", "space", "actor", "as_staff", "action", "target", "detail"]
    list_filter = ["action", "as_staff", ("space", admin.EmptyFieldListFilter)]
    list_select_related = ["space", "actor", "target"]
    search_fields = ["space__title", "actor__handle", "target__handle", "detail"]
    raw_id_fields = ["space", "actor", "target"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModerationEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModerationEntry | None = None) -> bool:
        return False


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    """Every room's chat, read-only; staff delete a message with the action (the room sees it go)."""

    list_display = ["sent_at", "space", "user", "text", "deleted_at", "deleted_by"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["space", "user", "deleted_by"]
    search_fields = ["text", "user__handle", "space__title"]
    raw_id_fields = ["space", "user", "deleted_by"]
    date_hierarchy = "sent_at"
    actions = ["delete_for_everyone"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChatMessage | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ChatMessage | None = None) -> bool:
        return False

    @admin.action(description="Delete for everyone (keeps a trace in the moderation log)", permissions=["view"])
    def delete_for_everyone(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        for message in queryset:
            chat.delete_as_staff(message, request.user)  # type: ignore[arg-type]
        self.message_user(request, f"Deleted {queryset.count()} message(s).", messages.SUCCESS)
