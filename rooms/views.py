"""Pages and actions for Spaces outside the live room. Thin: look up, call a service, redirect."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Follow, User
from accounts.services import search_people
from spaces_site.redirects import redirect_to_next

from . import access, services
from . import notifications as notify
from .calendar import space_calendar
from .forms import SpaceForm
from .models import Notification, Space, SpaceQuerySet, Topic
from .pages import live_room_door

LIVE_LIMIT = 60
UPCOMING_LIMIT = 24
SEARCH_LIMIT = 30
SEARCH_MAX_LENGTH = 100  # people type a few words; a 10 KB term would cost every LIKE below
NOTIFICATIONS_PAGE_SIZE = 30


def _cards(request: HttpRequest, spaces: QuerySet[Space] | None = None) -> SpaceQuerySet:
    """Spaces the viewer may find, with all a card needs, and whether the viewer follows each host."""
    # A related manager's queryset (topic.spaces) is a SpaceQuerySet too; the stubs can't tell.
    found = cast(SpaceQuerySet, Space.objects.all() if spaces is None else spaces)
    spaces = found.visible_to(request.user).for_cards()
    if request.user.is_authenticated:
        follows = Follow.objects.filter(follower=request.user, followee=OuterRef("host_id"))
        return spaces.annotate(host_followed=Exists(follows))
    return spaces.annotate(host_followed=Value(False))


def _live(spaces: SpaceQuerySet) -> list[Space]:
    # People you follow first, then the biggest rooms.
    return list(spaces.live().order_by("-host_followed", "-listener_count", "-started_at")[:LIVE_LIMIT])


def _upcoming(spaces: SpaceQuerySet) -> list[Space]:
    return list(spaces.upcoming().order_by("-host_followed", "scheduled_for")[:UPCOMING_LIMIT])


def home(request: HttpRequest) -> HttpResponse:
    spaces = _cards(request)
    return render(request, "rooms/home.html", {"live": _live(spaces), "upcoming": _upcoming(spaces)})


def topic(request: HttpRequest, slug: str) -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug)
    spaces = _cards(request, topic.spaces.all())
    context = {"topic": topic, "live": _live(spaces), "upcoming": _upcoming(spaces), "topics": Topic.objects.all()}
    return render(request, "rooms/topic.html", context)


def search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    context: dict = {"q": q}
    if q:
        term = q.lstrip("@#")
        matches = Space.objects.filter(
            Q(title__icontains=term)
            | Q(description__icontains=term)
            | Q(topics__name__icontains=term)
            | Q(host__handle__icontains=term)
            | Q(host__display_name__icontains=term)
        )
        # Filter by ids so that the topic join does not repeat a Space.
        spaces = _cards(request, Space.objects.filter(pk__in=matches.values("pk")))
        context.update(
            live=_live(spaces),
            upcoming=_upcoming(spaces),
            past=list(spaces.filter(state=Space.State.ENDED).order_by("-ended_at")[:SEARCH_LIMIT]),
            topics=list(Topic.objects.filter(name__icontains=term)[:10]),
            people=list(search_people(term).order_by("handle")[:10]),
        )
    return render(request, "rooms/search.html", context)


def _viewable(request: HttpRequest, space_id: int) -> Space:
    space = get_object_or_404(Space.objects.select_related("host"), pk=space_id)
    if not access.can_view(space, request.user):
        raise Http404("This Space isn't available.")
    return space


def detail(request: HttpRequest, space_id: int) -> HttpResponse:
    space = _viewable(request, space_id)
    # Asked once: the answer decides between the room and this page, and this page shows it.
    door = live_room_door()
    entry_refusal = door.entry_refusal(space, request.user) if space.is_live else None
    if space.is_live and entry_refusal is None:
        return door.render(request, space)
    is_host = request.user.is_authenticated and request.user.pk == space.host_id
    context = {
        "space": space,
        "is_host": is_host,
        "topics": list(space.topics.all()),
        "stage": space.stage_people if space.is_live else [],
        "has_reminder": services.has_reminder(space, request.user),
        "reminder_count": space.reminders.count() if is_host and space.is_scheduled else None,
        "entry_refusal": entry_refusal,
        "share_url": request.build_absolute_uri(space.get_absolute_url()),
    }
    return render(request, "rooms/detail.html", context)


def calendar(request: HttpRequest, space_id: int) -> HttpResponse:
    """GET /spaces/<id>/calendar.ics: a scheduled Space for the viewer's calendar app."""
    space = _viewable(request, space_id)
    if not space.is_scheduled or space.scheduled_for is None:
        raise Http404("Only a scheduled Space can be added to a calendar.")
    ics = space_calendar(space, request.build_absolute_uri(space.get_absolute_url()))
    response = HttpResponse(ics, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="space-{space.pk}.ics"'
    return response


@login_required
def new(request: AuthenticatedHttpRequest) -> HttpResponse:
    refusal = services.hosting_refusal(request.user)
    form = SpaceForm(request.POST or None)
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            space = services.create_space(request.user, **form.service_kwargs())
        except services.RoomError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, "You're live." if space.is_live else "Your Space is scheduled.")
            return redirect(space)
    return render(request, "rooms/form.html", {"form": form, "refusal": refusal})


@login_required
def edit(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    space = _viewable(request, space_id)
    refusal = services.edit_refusal(space, request.user)
    if refusal:
        messages.error(request, refusal)
        return redirect(space)
    form = SpaceForm(request.POST or None, editing=True, space=space, initial=SpaceForm.initial_for(space))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_space(space, request.user, **form.service_kwargs())
        except services.RoomError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect(space)
    return render(request, "rooms/form.html", {"form": form, "space": space})


def _act(
    request: AuthenticatedHttpRequest, space_id: int, action: Callable[[Space, User], object], done: str
) -> HttpResponse:
    space = _viewable(request, space_id)
    try:
        action(space, request.user)
    except services.RoomError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect(space)


@require_POST
@login_required
def start(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    return _act(request, space_id, services.start_space, "You're live. Your followers are being told.")


@require_POST
@login_required
def end(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    return _act(request, space_id, services.end_space, "Your Space has ended.")


@require_POST
@login_required
def cancel(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    return _act(request, space_id, services.cancel_space, "Your Space is cancelled. People with a reminder are told.")


@require_POST
@login_required
def remind(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    space = _viewable(request, space_id)
    try:
        is_set = services.toggle_reminder(space, request.user)
    except services.RoomError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Reminder set: we'll tell you when it starts." if is_set else "Reminder removed.")
    return redirect(space)


@login_required
def notifications(request: AuthenticatedHttpRequest) -> HttpResponse:
    items = Notification.objects.filter(recipient=request.user).select_related("space", "actor")
    page = Paginator(items, NOTIFICATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "rooms/notifications.html", {"page": page})


@login_required
def open_notification(request: AuthenticatedHttpRequest, notification_id: int) -> HttpResponse:
    """Click-through: mark the notification read and go where it points."""
    notification = get_object_or_404(
        Notification.objects.select_related("space", "actor"), pk=notification_id, recipient=request.user
    )
    notify.mark_read(request.user, notification.pk)
    if notification.space is not None:
        return redirect(notification.space)
    if notification.actor is not None:
        return redirect(notification.actor)
    return redirect("rooms:notifications")


@require_POST
@login_required
def mark_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Mark all notifications read, or one with `id`."""
    notification_id = request.POST.get("id", "")
    if notification_id and not notification_id.isdigit():
        raise Http404("No such notification.")
    changed = notify.mark_read(request.user, int(notification_id) if notification_id else None)
    if changed:
        messages.success(request, "Marked as read.")
    return redirect_to_next(request, "rooms:notifications")
