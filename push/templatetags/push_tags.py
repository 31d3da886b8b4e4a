"""`{% push_settings %}`: the settings page's "Notifications on this device" section."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse

from push import services

register = template.Library()


@register.inclusion_tag("push/_settings.html", takes_context=True)
def push_settings(context: template.Context) -> dict:
    user = context["request"].user
    return {
        "user": user,
        "enabled": services.enabled(),
        "public_key": settings.VAPID_PUBLIC_KEY.strip().rstrip("="),
        "subscribe_url": reverse("push:subscribe"),
        "unsubscribe_url": reverse("push:unsubscribe"),
        "devices": user.push_subscriptions.count() if user.is_authenticated else 0,
        "csrf_token": context.get("csrf_token"),
    }
