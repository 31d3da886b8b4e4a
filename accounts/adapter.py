from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.http import HttpRequest

from .models import User


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: User, form: forms.Form, commit: bool = True) -> User:
        # Set the handle before the first save: it is unique and never empty.
        user = super().save_user(request, user, form, commit=False)
        user.handle = form.cleaned_data["handle"]
        user.display_name = form.cleaned_data.get("display_name", "")
        if commit:
            user.save()
        return user
