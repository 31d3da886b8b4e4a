"""Reports to staff: someone reports a Space, a person or a chat message; staff decide in the admin.

The reported person never learns who reported them: nothing they can see names the reporter, and a warning
says only what was found. Every decision is a row of its own (`Decision`), and the report keeps a copy of
a reported chat message, so the evidence outlives a delete or the chat's retention.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.validators import multiline_text


class Report(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam", "Spam"
        HARASSMENT = "harassment", "Harassment or bullying"
        HATE = "hate", "Hate"
        VIOLENCE = "violence", "Violence or threats"
        IMPERSONATION = "impersonation", "Impersonation"
        OTHER = "other", "Something else"

    class Kind(models.TextChoices):
        SPACE = "space", "A Space"
        PERSON = "person", "A person"
        MESSAGE = "message", "A chat message"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Action taken"
        DISMISSED = "dismissed", "Dismissed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="reports_filed"
    )
    # The Space it happened in (for a person or a message: where, when known).
    space = models.ForeignKey("rooms.Space", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Who is reported: the person, the message's author, or the Space's host.
    reported_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports_against"
    )
    message = models.ForeignKey("live.ChatMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    message_text = models.CharField(max_length=500, blank=True, help_text="The message as it was when reported.")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    details = models.CharField(max_length=1000, blank=True, validators=[multiline_text])
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "-created_at"]), models.Index(fields=["reported_user", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(space__isnull=False) | models.Q(reported_user__isnull=False),
                name="report_has_a_target",
            ),
            models.CheckConstraint(
                condition=models.Q(state="open") | models.Q(handled_at__isnull=False), name="report_handled_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"Report #{self.pk}: {self.get_reason_display()} ({self.target_label})"

    @property
    def target_label(self) -> str:
        if self.kind == self.Kind.SPACE and self.space is not None:
            return f"Space “{self.space.title}”"
        who = f"@{self.reported_user.handle}" if self.reported_user else "a deleted account"
        return f"message by {who}" if self.kind == self.Kind.MESSAGE else who


class Decision(models.Model):
    """One thing staff did about a report: every decision is kept, in order."""

    class Action(models.TextChoices):
        DISMISS = "dismiss", "Dismissed"
        WARN = "warn", "Warned"
        DELETE_MESSAGE = "delete_message", "Deleted the message"
        END_SPACE = "end_space", "Ended the Space"
        BAN = "ban", "Banned the account"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="decisions")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} (report #{self.report_id})"
