from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RoomSequence(models.Model):
    """The seq of the last delta a live room was sent.

    Taken inside the transaction that changes the room (live.events.emit), while the Space row is
    locked, so the numbers follow commit order on every process. The row is created by the first delta.
    """

    space = models.OneToOneField("rooms.Space", on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"space {self.space_id}: seq {self.last_seq}"


class ChatSettings(models.Model):
    """A room's chat rules and its pinned link, set by the host and co-hosts (live.chat). A Space without a
    row has the defaults: everyone may write, no slow mode, nothing pinned."""

    class Mode(models.TextChoices):
        EVERYONE = "everyone", "Everyone"
        SPEAKERS = "speakers", "Host, co-hosts and speakers"
        OFF = "off", "Off"

    space = models.OneToOneField("rooms.Space", on_delete=models.CASCADE, primary_key=True, related_name="+")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.EVERYONE)
    slow_seconds = models.PositiveSmallIntegerField(default=0, help_text="One message per N seconds per person.")
    pinned_url = models.URLField(max_length=2000, blank=True)
    pinned_title = models.CharField(max_length=100, blank=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pinned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "chat settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(slow_seconds__lte=600), name="chat_slow_mode_at_most_an_hour"),
        ]

    def __str__(self) -> str:
        return f"chat of space {self.space_id}: {self.mode}"


class ChatMessage(models.Model):
    """One line of a room's chat: who wrote what, when, and (once deleted) who deleted it. A deleted message
    keeps its row without its text, so the room and the moderation log still know it was there."""

    space = models.ForeignKey("rooms.Space", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    text = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Staff deleted it from the admin: the room is told "deleted", not by whom.
    deleted_by_staff = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["space", "-id"], name="chat_space_latest"),
            models.Index(fields=["space", "user", "-sent_at"], name="chat_space_user_latest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deleted_at__isnull=True) | models.Q(text=""), name="chat_deleted_has_no_text"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} @{self.user_id} in space {self.space_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class ChatMute(models.Model):
    """The host or a co-host muted this person in the room's chat: they still listen, they can't write."""

    space = models.ForeignKey("rooms.Space", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "user"], name="chat_mute_unique")]

    def __str__(self) -> str:
        return f"@{self.user_id} chat-muted in space {self.space_id}"


class ModerationEntry(models.Model):
    """One moderator action in a Space (or, for a ban, on the site): who did what to whom, when. Written in
    the transaction of the action itself (live.modlog.record), kept after the Space ends."""

    class Action(models.TextChoices):
        MUTE = "mute", "Muted"
        MOVE_TO_AUDIENCE = "move_to_audience", "Moved to the audience"
        REMOVE = "remove", "Removed from the Space"
        APPROVE = "approve_request", "Approved a request to speak"
        DENY = "deny_request", "Denied a request to speak"
        INVITE = "invite_to_speak", "Invited to speak"
        ADD_COHOST = "add_cohost", "Made co-host"
        REMOVE_COHOST = "remove_cohost", "Took the co-host role back"
        TRANSFER_HOST = "transfer_host", "Handed the Space over"
        DELETE_MESSAGE = "delete_message", "Deleted a chat message"
        CHAT_MUTE = "chat_mute", "Muted in chat"
        CHAT_UNMUTE = "chat_unmute", "Unmuted in chat"
        SET_CHAT = "set_chat", "Changed the chat settings"
        PIN = "pin", "Pinned a link"
        UNPIN = "unpin", "Unpinned the link"
        END_SPACE = "end_space", "Ended the Space (staff)"
        BAN = "ban", "Banned the account (staff)"
        TAKE_DOWN = "take_down", "Took the recording down (staff)"
        WARN = "warn", "Warned (staff)"

    # SET_NULL: the record of what moderators did outlives even a deleted Space.
    space = models.ForeignKey("rooms.Space", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    as_staff = models.BooleanField(default=False, help_text="Done by staff (the admin), not by a host.")
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "moderation log entry"
        verbose_name_plural = "moderation log"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["space", "-id"], name="modlog_space_latest")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} in space {self.space_id}"
