from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from . import services
from .models import Block, Follow, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["handle", "email", "display_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", "email_notifications", "date_joined"]
    search_fields = ["handle", "email", "display_name"]
    ordering = ["handle"]
    readonly_fields = ["username", "last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["handle", "username", "email", "password"]}),
        ("Profile", {"fields": ["display_name", "bio", "email_notifications", "stripe_account_id"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["handle", "email", "password1", "password2"]})]
    actions = ["ban_users", "unban_users"]

    @admin.action(description="Ban selected users (deactivate)")
    def ban_users(self, request, queryset):
        count = 0
        for user in queryset.exclude(pk=request.user.pk):
            services.ban(user, by=request.user)
            count += 1
        self.message_user(request, f"Banned {count} user(s).", messages.SUCCESS)

    @admin.action(description="Lift the ban on selected users")
    def unban_users(self, request, queryset):
        updated = queryset.update(is_active=True)
        self.message_user(request, f"Reactivated {updated} user(s).", messages.SUCCESS)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["follower", "followee", "created_at"]
    search_fields = ["follower__handle", "followee__handle"]
    list_filter = ["created_at"]
    raw_id_fields = ["follower", "followee"]


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__handle", "blocked__handle"]
    list_filter = ["created_at"]
    raw_id_fields = ["blocker", "blocked"]
