"""One browser's Web Push subscription (a phone, a laptop) for one user."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone

# The browser's keys, base64url without padding: an uncompressed P-256 point (65 bytes) and a 16-byte secret.
P256DH_LENGTH = 87
AUTH_LENGTH = 22


class PushSubscription(models.Model):
    """Where to reach one browser: its push service endpoint (a capability URL: whoever knows it may push
    to that browser, so it belongs to one user at a time) and the keys that encrypt what is sent there."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=P256DH_LENGTH)
    auth = models.CharField(max_length=AUTH_LENGTH)
    device = models.CharField(max_length=120, blank=True, help_text="What the browser said it was, to list devices.")
    created_at = models.DateTimeField(default=timezone.now)
    last_pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "push subscription"
        indexes = [models.Index(fields=["user", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Exact(Length("p256dh"), P256DH_LENGTH), name="push_p256dh_length"),
            models.CheckConstraint(condition=Exact(Length("auth"), AUTH_LENGTH), name="push_auth_length"),
            models.CheckConstraint(condition=models.Q(endpoint__startswith="http"), name="push_endpoint_is_a_url"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.device or 'a browser'}"

    def subscription_info(self) -> dict:
        """The shape pywebpush (and the browser's PushSubscription.toJSON()) use."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
