from __future__ import annotations

from django import forms

from accounts.validators import multiline_text

from .models import Report


class ReportForm(forms.Form):
    reason = forms.ChoiceField(label="What's wrong?", choices=Report.Reason.choices, widget=forms.RadioSelect)
    details = forms.CharField(
        label="Anything we should know? (optional)",
        required=False,
        max_length=1000,
        validators=[multiline_text],
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Staff read this. The person you report never learns who reported them.",
    )
    block = forms.BooleanField(label="Also block them", required=False)
    # From the room: the Space a person was reported in.
    space = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
