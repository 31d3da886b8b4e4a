from __future__ import annotations

from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from accounts.validators import multiline_text, single_line_text


class Topic(models.Model):
    name = models.CharField(max_length=40, unique=True, validators=[single_line_text])
    slug = models.SlugField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("rooms:topic", args=[self.slug])


class SpaceStateError(Exception):
    """An illegal state transition, e.g. starting a Space that has ended."""


# Who is on stage, in the order cards and the room show them.
STAGE_ROLES = ("host", "cohost", "speaker")


class SpaceQuerySet(models.QuerySet):
    def live(self) -> SpaceQuerySet:
        return self.filter(state="live")

    def upcoming(self) -> SpaceQuerySet:
        return self.filter(state="scheduled")

    def visible_to(self, user) -> SpaceQuerySet:
        """Spaces `user` may find in lists: not hosted by a banned account, nor across a block either way."""
        from accounts.models import Block

        spaces = self.filter(host__is_active=True)
        if user is None or not user.is_authenticated:
            return spaces
        return spaces.exclude(
            models.Exists(Block.objects.filter(blocker=models.OuterRef("host_id"), blocked=user))
        ).exclude(models.Exists(Block.objects.filter(blocker=user, blocked=models.OuterRef("host_id"))))

    def for_cards(self) -> SpaceQuerySet:
        """Everything a card shows, in a fixed number of queries however many Spaces there are."""
        stage = (
            Participant.objects.filter(role__in=STAGE_ROLES, removed_at__isnull=True)
            .select_related("user")
            .order_by(
                models.Case(
                    *(models.When(role=role, then=models.Value(i)) for i, role in enumerate(STAGE_ROLES)),
                ),
                "updated_at",
            )
        )
        return self.select_related("host").prefetch_related(
            "topics", models.Prefetch("participants", queryset=stage, to_attr="stage_participants")
        )


class Space(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"

    MAX_TOPICS = 3
    TITLE_MAX_LENGTH = 70
    DESCRIPTION_MAX_LENGTH = 280

    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hosted_spaces")
    title = models.CharField(max_length=TITLE_MAX_LENGTH, validators=[MinLengthValidator(1), single_line_text])
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True, validators=[multiline_text])
    topics = models.ManyToManyField(Topic, blank=True, related_name="spaces")
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED, db_index=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Denormalised from the live room's presence so the home page can sort without touching Redis.
    listener_count = models.PositiveIntegerField(default=0)

    # "Needs a ticket": what cards and the live room read. Only payments sets it, in the transaction that
    # creates or removes the Space's box office (payments.BoxOffice: price, currency, capacity).
    is_ticketed = models.BooleanField(default=False)

    # "Record this Space": the host's choice when creating or editing it, or while live (the room's
    # `set_recording`). Whoever is on stage hears of it first; the recordings app keeps the audio.
    record = models.BooleanField(default=False, help_text="Record this Space for a replay.")

    # The demo Space only (`manage.py demo`): a speaker whose voice the media engine plays from a recorded
    # clip (media.demo_voice), so a newcomer hears someone. Never set for a real Space.
    demo_voice = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Demo only: this speaker's voice is a recorded clip played by the media engine.",
    )  # fmt: skip

    objects = SpaceQuerySet.as_manager()

    class Meta:
        constraints = [
            # One live Space per host at a time, held by the database as well as by the service.
            models.UniqueConstraint(fields=["host"], condition=models.Q(state="live"), name="space_one_live_per_host"),
            models.CheckConstraint(
                condition=~models.Q(state="live") | models.Q(started_at__isnull=False), name="space_live_has_start"
            ),
        ]
        indexes = [models.Index(fields=["state", "scheduled_for"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("rooms:detail", args=[self.pk])

    @property
    def is_live(self) -> bool:
        return self.state == self.State.LIVE

    @property
    def is_scheduled(self) -> bool:
        return self.state == self.State.SCHEDULED

    @property
    def is_over(self) -> bool:
        return self.state in (self.State.ENDED, self.State.CANCELLED)

    @property
    def stage_people(self) -> list:
        """Host, co-hosts and speakers (users), from the for_cards() prefetch when there is one."""
        participants = getattr(self, "stage_participants", None)
        if participants is None:
            participants = Space.objects.for_cards().get(pk=self.pk).stage_participants
        return [participant.user for participant in participants]

    # State transitions: the only place the state and its timestamps change.
    def start(self, now=None) -> None:
        if self.state != self.State.SCHEDULED:
            raise SpaceStateError(f"A Space that is {self.get_state_display().lower()} can't be started.")
        self.state = self.State.LIVE
        self.started_at = now or timezone.now()

    def end(self, now=None) -> None:
        if self.state != self.State.LIVE:
            raise SpaceStateError(f"A Space that is {self.get_state_display().lower()} can't be ended.")
        self.state = self.State.ENDED
        self.ended_at = now or timezone.now()

    def cancel(self, now=None) -> None:
        if self.state != self.State.SCHEDULED:
            raise SpaceStateError(f"A Space that is {self.get_state_display().lower()} can't be cancelled.")
        self.state = self.State.CANCELLED
        self.ended_at = now or timezone.now()


class Participant(models.Model):
    """A user's place in a Space: their role, mute state and pending request or invite.

    Stored in the database so roles survive a restart; listeners get a row only once they act (raise a
    hand, get invited or removed), so a 5,000-listener room does not write 5,000 rows.
    """

    class Role(models.TextChoices):
        HOST = "host", "Host"
        COHOST = "cohost", "Co-host"
        SPEAKER = "speaker", "Speaker"
        LISTENER = "listener", "Listener"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LISTENER)
    is_muted = models.BooleanField(default=True)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="Pending request to speak.")
    invited_at = models.DateTimeField(null=True, blank=True, help_text="Pending invitation to speak.")
    removed_at = models.DateTimeField(null=True, blank=True, help_text="Removed: may not rejoin this Space.")
    # "Don't record my voice" (False): heard live, left out of the recorded mix. The host's choice to record
    # covers the host: while someone is host this is not read for them.
    record_voice = models.BooleanField(default=True, help_text="Their voice may be in the recording.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="participant_unique"),
            models.UniqueConstraint(fields=["space"], condition=models.Q(role="host"), name="participant_one_host"),
        ]
        indexes = [models.Index(fields=["space", "role"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.space} as {self.role}"


class Reminder(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "user"], name="reminder_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.space}"


class Notification(models.Model):
    TEXT_MAX_LENGTH = 200

    class Kind(models.TextChoices):
        HOST_LIVE = "host_live", "A host you follow is live"
        REMINDER = "reminder", "A Space you set a reminder for started"
        CANCELLED = "cancelled", "A Space was cancelled"
        TICKET = "ticket", "Ticket update"
        FOLLOW = "follow", "New follower"
        # From the reports app: a warning from staff, and "your report was handled" (no Space: never unique).
        WARNING = "warning", "A warning from staff"
        REPORT = "report", "Your report was handled"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    text = models.CharField(max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Claimed before the e-mail is sent, so a retried task never e-mails twice.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A retried fan-out task inserts with ignore_conflicts: nobody is told twice.
            models.UniqueConstraint(fields=["recipient", "kind", "space"], name="notification_once_per_space"),
        ]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text
