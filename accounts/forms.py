from django import forms

from .models import User, handle_validator
from .validators import single_line_text


def clean_new_handle(handle: str, instance: User | None = None) -> str:
    handle = handle.strip().lstrip("@")
    handle_validator(handle)
    taken = User.objects.filter(handle__iexact=handle)
    if instance is not None and instance.pk:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        raise forms.ValidationError("That handle is taken.")
    return handle


class SignupForm(forms.Form):
    """Extra fields on allauth's signup form."""

    handle = forms.CharField(
        max_length=15,
        help_text="3–15 letters, digits or underscores. People find you by it.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "placeholder": "your_handle"}),
    )
    display_name = forms.CharField(max_length=50, required=False, label="Name", validators=[single_line_text])

    field_order = ["email", "handle", "display_name", "password1", "password2"]

    def clean_handle(self) -> str:
        return clean_new_handle(self.cleaned_data["handle"])

    def signup(self, request, user: User) -> None:
        """allauth calls this after saving; the adapter already stored handle and name."""


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "handle", "bio", "email_notifications"]
        labels = {"display_name": "Name"}
        widgets = {"bio": forms.Textarea(attrs={"rows": 3, "maxlength": 160})}

    def clean_handle(self) -> str:
        return clean_new_handle(self.cleaned_data["handle"], instance=self.instance)
