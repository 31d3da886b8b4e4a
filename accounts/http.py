"""The request type of views behind `login_required`: its user is a real User, never AnonymousUser."""

from __future__ import annotations

from django.http import HttpRequest

from .models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User
