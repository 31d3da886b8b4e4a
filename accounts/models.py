from __future__ import annotations

import hashlib
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse

from .validators import multiline_text, single_line_text

# \Z, not $: `$` also matches before a trailing newline, which would let "alice\n" through.
HANDLE_RE = r"^[A-Za-z0-9_]{3,15}\Z"
handle_validator = RegexValidator(HANDLE_RE, "A handle has 3 to 15 characters: letters, digits and underscores.")


class SpacesUserManager(UserManager["User"]):
    """Users log in by e-mail; `username` is kept equal to the handle for Django's admin and auth."""

    # handle comes first: it is the username. The override narrows the signature on purpose.
    def create_user(  # type: ignore[override]
        self, handle: str, email: str | None = None, password: str | None = None, **extra
    ) -> User:
        extra.setdefault("username", handle)
        return super().create_user(email=email, password=password, handle=handle, **extra)

    def create_superuser(  # type: ignore[override]
        self, handle: str, email: str | None = None, password: str | None = None, **extra
    ) -> User:
        extra.setdefault("username", handle)
        return super().create_superuser(email=email, password=password, handle=handle, **extra)


class User(AbstractUser):
    handle = models.CharField(max_length=15, validators=[handle_validator], help_text="Your @handle.")
    display_name = models.CharField(max_length=50, blank=True, validators=[single_line_text])
    bio = models.CharField(max_length=160, blank=True, validators=[multiline_text])
    email = models.EmailField("email address", unique=True)
    email_notifications = models.BooleanField(
        default=True, help_text="E-mail me when a host I follow goes live or a Space I set a reminder for starts."
    )
    stripe_account_id = models.CharField(
        max_length=64, blank=True, help_text="Stripe connected account that receives this host's ticket sales."
    )

    objects: ClassVar[SpacesUserManager] = SpacesUserManager()

    REQUIRED_FIELDS = ["email", "handle"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="user_handle_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"

    def save(self, *args, **kwargs) -> None:
        if self.handle:
            self.username = self.handle
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("accounts:profile", args=[self.handle])

    @property
    def name(self) -> str:
        return self.display_name or self.handle

    @property
    def initials(self) -> str:
        words = self.name.replace("_", " ").split()
        return "".join(word[0] for word in words[:2]).upper() or "?"

    @property
    def avatar_hue(self) -> int:
        # A stable colour per handle for the initials avatar.
        return int(hashlib.md5(self.handle.lower().encode(), usedforsecurity=False).hexdigest()[:4], 16) % 360


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique"),
            models.CheckConstraint(condition=~models.Q(follower=models.F("followee")), name="follow_not_self"),
        ]
        indexes = [models.Index(fields=["followee", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.follower} follows {self.followee}"


class Block(models.Model):
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocking_set")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocked_by_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~models.Q(blocker=models.F("blocked")), name="block_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker} blocks {self.blocked}"
