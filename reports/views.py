"""Report pages and endpoints: a Space, a person, a chat message. Each answers a form (a page, then a
redirect with a message) or the room's fetch (JSON: `{"ok": true}` or `{"error": "..."}`)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import User
from live.models import ChatMessage
from rooms.access import can_view
from rooms.models import Space

from . import services
from .forms import ReportForm
from .models import Report

THANKS = "Thanks: your report went to the staff. The person you reported won't learn it was you."


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _handle(
    request: HttpRequest, subject: str, back: str, file: Callable[[ReportForm], Report], *, can_block: bool
) -> HttpResponse:
    if not request.user.is_authenticated:
        if _wants_json(request):
            return JsonResponse({"error": "Log in to report."}, status=403)
        return redirect_to_login(request.get_full_path())
    form = ReportForm(request.POST or None)
    if not can_block:
        del form.fields["block"]
    if request.method == "POST":
        if form.is_valid():
            try:
                file(form)
            except services.ReportError as exc:
                form.add_error(None, str(exc))
            else:
                if _wants_json(request):
                    return JsonResponse({"ok": True, "message": THANKS})
                messages.success(request, THANKS)
                return redirect(back)
        if _wants_json(request):
            problems = [str(error) for errors in form.errors.values() for error in errors]
            return JsonResponse({"error": " ".join(problems)}, status=400)
    return render(request, "reports/form.html", {"form": form, "subject": subject, "back": back})


def report_space(request: HttpRequest, space_id: int) -> HttpResponse:
    space = get_object_or_404(Space.objects.select_related("host"), pk=space_id)
    if not can_view(space, request.user):
        raise Http404("This Space isn't available.")

    def file(form: ReportForm) -> Report:
        data = form.cleaned_data
        return services.report_space(request.user, space, data["reason"], data["details"], block=data.get("block"))  # type: ignore[arg-type]

    return _handle(request, f"the Space “{space.title}”", space.get_absolute_url(), file, can_block=True)


def report_person(request: HttpRequest, handle: str) -> HttpResponse:
    person = get_object_or_404(User, handle__iexact=handle, is_active=True)

    def file(form: ReportForm) -> Report:
        data = form.cleaned_data
        space = Space.objects.filter(pk=data["space"]).first() if data.get("space") else None
        return services.report_person(
            request.user,  # type: ignore[arg-type]
            person,
            data["reason"],
            data["details"],
            space=space,
            block=data.get("block", False),
        )

    return _handle(request, f"@{person.handle}", person.get_absolute_url(), file, can_block=True)


def report_message(request: HttpRequest, space_id: int, message_id: int) -> HttpResponse:
    message = get_object_or_404(ChatMessage.objects.select_related("space", "user"), pk=message_id, space_id=space_id)
    if not can_view(message.space, request.user):
        raise Http404("This Space isn't available.")

    def file(form: ReportForm) -> Report:
        data = form.cleaned_data
        return services.report_message(
            request.user,  # type: ignore[arg-type]
            message,
            data["reason"],
            data["details"],
            block=data.get("block", False),
        )

    subject = f"a chat message by @{message.user.handle}"
    return _handle(request, subject, message.space.get_absolute_url(), file, can_block=True)
