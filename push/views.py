"""Subscribing a browser to push notifications, and letting it go (static/js/push.js; docs/phones.md).

JSON answers: {"ok": true, ...} or {"error": "..."} with 400 (bad subscription), 403 (not logged in), 404
(unknown device) or 503 (push is off on this server).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import User

from . import services
from .forms import EndpointForm, RenewalForm, SubscriptionForm


def _form_error(form) -> JsonResponse:
    field, errors = next(iter(form.errors.items()))
    return JsonResponse({"error": f"{field}: {errors[0]}"}, status=400)


def _refused(error: services.PushError) -> JsonResponse:
    return JsonResponse({"error": str(error)}, status=400 if services.enabled() else 503)


def _person(request: HttpRequest) -> User | None:
    """The logged-in person, or None."""
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


NOT_LOGGED_IN = {"error": "Log in to get notifications."}


@require_POST
def subscribe(request: HttpRequest) -> JsonResponse:
    user = _person(request)
    if user is None:
        return JsonResponse(NOT_LOGGED_IN, status=403)
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        return _form_error(form)
    try:
        services.subscribe(user, device=request.headers.get("User-Agent", ""), **form.cleaned_data)
    except services.PushError as error:
        return _refused(error)
    return JsonResponse({"ok": True, "devices": user.push_subscriptions.count()}, status=201)


@require_POST
def unsubscribe(request: HttpRequest) -> JsonResponse:
    user = _person(request)
    if user is None:
        return JsonResponse(NOT_LOGGED_IN, status=403)
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _form_error(form)
    removed = services.unsubscribe(user, form.cleaned_data["endpoint"])
    return JsonResponse({"ok": True, "removed": removed})


# The service worker calls this with no cookies and no CSRF token: knowing the old endpoint, a secret URL
# only the browser and this server hold, is what proves it is that device.
@csrf_exempt
@require_POST
def renew(request: HttpRequest) -> JsonResponse:
    form = RenewalForm(request.POST)
    if not form.is_valid():
        return _form_error(form)
    data = form.cleaned_data
    try:
        renewed = services.renew(data.pop("old_endpoint"), **data)
    except services.PushError as error:
        return _refused(error)
    if renewed is None:
        return JsonResponse({"error": "No device had that subscription."}, status=404)
    return JsonResponse({"ok": True})
