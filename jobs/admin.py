from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import outbox
from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "args", "state", "attempts", "created_at", "next_attempt_at", "last_error"]
    list_filter = [
        ("finished_at", admin.EmptyFieldListFilter),
        ("failed_at", admin.EmptyFieldListFilter),
        "task",
        "created_at",
    ]
    search_fields = ["task", "last_error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Run selected unfinished or failed jobs again now")
    def retry(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        sent = outbox.retry_now(list(queryset))
        self.message_user(request, f"Handed {sent} job(s) to the workers.", messages.SUCCESS)
