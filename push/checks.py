"""`manage.py check` (and every server start) says when the VAPID settings can't work."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from . import services


@register("push")
def vapid_settings(app_configs, **kwargs) -> list:
    public, private = settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY
    if not public and not private:
        return []  # push is off
    if not (public and private):
        return [Error("Set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither.", id="push.E001")]
    try:
        derived = services.public_key_of(services.vapid_key())
    except Exception:  # noqa: BLE001 - whatever the key parser raised, the key is unusable
        return [Error("VAPID_PRIVATE_KEY isn't a P-256 key (run `manage.py vapid_keys`).", id="push.E002")]
    if derived != public.strip().rstrip("="):
        return [Error("VAPID_PUBLIC_KEY isn't the public half of VAPID_PRIVATE_KEY.", id="push.E003")]
    if not settings.VAPID_SUBJECT.startswith(("mailto:", "https:")):
        return [Warning("VAPID_SUBJECT should be a mailto: or https: URL: push services use it.", id="push.W001")]
    return []
