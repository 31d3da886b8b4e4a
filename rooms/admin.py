from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import Notification, Participant, Reminder, Space, Topic


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class ParticipantInline(admin.TabularInline):
    """Who is on stage, read-only: staff change seats from "Stage seats" (the live app's admin), which goes
    through the room's own actions so limits and room events hold."""

    model = Participant
    extra = 0
    fields = ("user", "role", "is_muted", "requested_at", "invited_at", "removed_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Space | None = None) -> bool:
        return False


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    list_display = ["title", "host", "state", "scheduled_for", "started_at", "ended_at", "listener_count"]
    list_filter = ["state", "is_ticketed", "topics"]
    search_fields = ["title", "description", "host__handle", "host__email"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]
    filter_horizontal = ["topics"]
    date_hierarchy = "created_at"
    # The state and its timestamps change only through rooms.services (the actions below).
    readonly_fields = ["state", "started_at", "ended_at", "created_at", "listener_count"]
    inlines = [ParticipantInline]
    actions = ["end_now", "cancel"]

    def _apply(self, request: HttpRequest, queryset: QuerySet[Space], action, done: str) -> None:
        changed, refused = 0, []
        for space in queryset:
            try:
                action(space, request.user, by_staff=True)
            except services.RoomError as exc:
                refused.append(f"“{space.title}”: {exc}")
            else:
                changed += 1
        if changed:
            self.message_user(request, f"{done} {changed} Space{'s' if changed != 1 else ''}.", messages.SUCCESS)
        for refusal in refused:
            self.message_user(request, refusal, messages.WARNING)

    @admin.action(description="End now (live Spaces)", permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet[Space]) -> None:
        self._apply(request, queryset, services.end_space, "Ended")

    @admin.action(description="Cancel (scheduled Spaces)", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Space]) -> None:
        self._apply(request, queryset, services.cancel_space, "Cancelled")


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["user", "space", "created_at"]
    search_fields = ["user__handle", "space__title"]
    list_select_related = ["user", "space"]
    raw_id_fields = ["user", "space"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "text", "created_at", "read_at", "emailed_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["recipient__handle", "text"]
    list_select_related = ["recipient"]
    raw_id_fields = ["recipient", "actor", "space"]
    date_hierarchy = "created_at"
