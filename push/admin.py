from django.contrib import admin

from .models import PushSubscription


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "device", "created_at", "last_pushed_at"]
    list_select_related = ["user"]
    search_fields = ["user__handle", "user__email"]
    readonly_fields = ["user", "endpoint", "p256dh", "auth", "device", "created_at", "last_pushed_at"]

    def has_add_permission(self, request) -> bool:
        return False  # only a browser can make one
