"""Forms parse input; rooms.services decides what is allowed."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django import forms
from django.utils import timezone

from accounts.validators import multiline_text, single_line_text

from .models import Space, Topic

WHEN_NOW = "now"
WHEN_LATER = "later"


class SpaceForm(forms.Form):
    """Create (with `when`: now or later) or edit (`editing=True`) a Space."""

    title = forms.CharField(
        max_length=Space._meta.get_field("title").max_length,
        validators=[single_line_text],
        widget=forms.TextInput(attrs={"placeholder": "What do you want to talk about?", "autofocus": True}),
    )
    description = forms.CharField(
        required=False,
        max_length=Space._meta.get_field("description").max_length,
        validators=[multiline_text],
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Optional. Links are fine."}),
        help_text="Up to 280 characters.",
    )
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=f"Up to {Space.MAX_TOPICS}, so that people find your Space.",
    )
    when = forms.ChoiceField(
        choices=[(WHEN_NOW, "Start now"), (WHEN_LATER, "Schedule for later")],
        initial=WHEN_NOW,
        widget=forms.RadioSelect,
        label="When",
    )
    scheduled_for = forms.DateTimeField(
        required=False,
        label="Date and time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    record = forms.BooleanField(
        required=False,
        label="Record this Space",
        help_text="Listeners can play it back afterwards. Everyone sees REC, and speakers can keep their voice out.",
    )
    # The browser's IANA time zone, filled in by a line of script, so that "20:00" means the user's 20:00.
    tz = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, editing: bool = False, space: Space | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            del self.fields["when"]
            if space is not None and not space.is_scheduled:
                del self.fields["scheduled_for"]
                del self.fields["tz"]
                # While live, the room's own control turns recording on and off (everyone there sees it).
                del self.fields["record"]
        if "scheduled_for" in self.fields:
            field = self.fields["scheduled_for"]
            field.help_text = "In your time zone (UTC if your browser does not say)."
            if space is not None and space.scheduled_for and not self.is_bound:
                # The page's script shows this instant in the browser's zone, matching how `tz` reads it back.
                field.widget.attrs["data-utc"] = space.scheduled_for.isoformat()

    def clean_topics(self) -> list[Topic]:
        topics = list(self.cleaned_data.get("topics") or [])
        if len(topics) > Space.MAX_TOPICS:
            raise forms.ValidationError(f"Pick at most {Space.MAX_TOPICS} topics.")
        return topics

    def _zone(self) -> zoneinfo.ZoneInfo | None:
        name = (self.cleaned_data.get("tz") or "").strip()
        if not name:
            return None
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data
        when: datetime | None = cleaned.get("scheduled_for")
        zone = self._zone()
        if when is not None and zone is not None:
            # Django read the naive input in UTC; reread the same wall-clock time in the user's zone.
            cleaned["scheduled_for"] = timezone.make_naive(when, timezone.get_current_timezone()).replace(tzinfo=zone)
        if not self.editing and cleaned.get("when") == WHEN_LATER and cleaned.get("scheduled_for") is None:
            self.add_error("scheduled_for", "Pick a date and time, or start now.")
        return cleaned

    @property
    def start_now(self) -> bool:
        return not self.editing and self.cleaned_data.get("when") == WHEN_NOW

    def service_kwargs(self) -> dict:
        """The cleaned data as keyword arguments for services.create_space / update_space."""
        data = self.cleaned_data
        kwargs = {
            "title": data["title"],
            "description": data.get("description", ""),
            "topics": data.get("topics", []),
            "scheduled_for": None if self.start_now else data.get("scheduled_for"),
        }
        if "record" in self.fields:
            kwargs["record"] = bool(data.get("record"))
        if not self.editing:
            kwargs["start_now"] = self.start_now
        return kwargs

    @classmethod
    def initial_for(cls, space: Space) -> dict:
        return {
            "title": space.title,
            "description": space.description,
            "topics": list(space.topics.all()),
            "scheduled_for": timezone.localtime(space.scheduled_for) if space.scheduled_for else None,
            "record": space.record,
        }
