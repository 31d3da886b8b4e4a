"""The live room page, and HTTP fallbacks for room actions (the same live.stage functions)."""

from __future__ import annotations

import logging

import msgspec
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import ratelimit
from accounts.models import User
from payments.gate import ticket_refusal
from rooms.access import can_view
from rooms.models import Space
from rooms.services import RoomError

from . import access, chat, guard, modlog, protocol, stage
from .audience import BadCursor, audience_page
from .ice import ice_servers

logger = logging.getLogger(__name__)

AUDIENCE_PAGES_PER_BUDGET = 4  # the audience list may be paged four times as fast as actions are sent


def live_room(request: HttpRequest, space: Space) -> HttpResponse:
    """The room while a Space is live (the Space page hands over here when the user may enter)."""
    return render(
        request,
        "live/room.html",
        {
            "space": space,
            # Rendered at once from the database; the socket's snapshot replaces it when it arrives.
            "initial": msgspec.to_builtins(stage.snapshot(space, request.user)),
            "ws_path": f"/ws/spaces/{space.pk}/",
            "ice_servers": ice_servers(request.user.pk if request.user.is_authenticated else None),
        },
    )


class RoomDoor:
    """What the Space page (rooms.views.detail) asks the live room: registered in live.apps."""

    def entry_refusal(self, space: Space, user: User | AnonymousUser) -> str | None:
        return access.entry_refusal(space, user)

    def render(self, request: HttpRequest, space: Space) -> HttpResponse:
        return live_room(request, space)


def room(request: HttpRequest, space_id: int) -> HttpResponse:
    space = get_object_or_404(Space, pk=space_id)
    if space.is_live and access.can_enter(space, request.user):
        return live_room(request, space)
    return redirect(space)


@require_POST
def room_action(request: HttpRequest, space_id: int, action: str) -> JsonResponse:
    """POST /spaces/<id>/room/<action>/: the socket's actions over HTTP, decoded through the same specs.

    Arguments come as form fields (`user`, `emoji`) or as a JSON object body; unknown fields are refused.
    """
    if action not in protocol.ACTIONS:
        return _refused(action[:40], "Unknown action.", 404)
    if not request.user.is_authenticated:
        return _refused(action, "Log in to take part.", 403)
    if _over_budget(request):
        return _refused(action, "Slow down: too many messages.", 429)
    try:
        decoded = protocol.decode_fields(action, _fields(request))
    except protocol.BadMessage as exc:
        return _refused(action, str(exc), 400)
    if isinstance(decoded, protocol.actions.Snapshot):
        refusal = stage.connect_refusal(space_id, request.user)
        if refusal:
            return _refused(action, refusal, 403)
        return JsonResponse(msgspec.to_builtins(stage.snapshot(space_id, request.user)))
    if isinstance(decoded, protocol.actions.WebrtcOffer):
        return _refused(action, "Send offers over the room's websocket.", 400)
    try:
        stage.perform(space_id, request.user, decoded)
    except RoomError as exc:
        return _refused(action, str(exc), 400)
    return JsonResponse({"ok": True, "action": action})


@require_GET
@never_cache
def audience(request: HttpRequest, space_id: int) -> HttpResponse:
    """GET /spaces/<id>/room/audience/?cursor=...: who is listening, 50 at a time (docs/protocol.md)."""
    if _over_budget(request, "room-audience", AUDIENCE_PAGES_PER_BUDGET):  # before any database read
        return _refused("audience", "Slow down: too many messages.", 429)
    space = Space.objects.filter(pk=space_id).select_related("host").first()
    if space is None:
        return _refused("audience", "This Space doesn't exist.", 404)
    refusal = access.entry_refusal(space, request.user)
    if refusal:
        return _refused("audience", refusal, 403)
    try:
        page = audience_page(space, request.user, request.GET.get("cursor") or None)
    except BadCursor as exc:
        return _refused("audience", str(exc), 400)
    except Exception:  # the registry (Redis) did not answer
        logger.warning("could not read the audience of space %s", space_id, exc_info=True)
        return _refused("audience", "The list of listeners isn't available right now. Try again.", 503)
    return HttpResponse(msgspec.json.encode(page), content_type="application/json")


@require_http_methods(["GET", "POST"])
@never_cache
def chat_history(request: HttpRequest, space_id: int) -> HttpResponse:
    """GET /spaces/<id>/room/chat/?before=<message id>: the 50 messages before that one, oldest first. Anyone
    who may enter the live room may read its chat; once it has ended, anyone who may see the Space (with a
    ticket for a ticketed one), for the replay. POST is the HTTP fallback of the `chat` action."""
    if request.method == "POST":
        return room_action(request, space_id, "chat")
    if _over_budget(request, "room-chat", AUDIENCE_PAGES_PER_BUDGET):
        return _refused("chat", "Slow down: too many messages.", 429)
    space = Space.objects.filter(pk=space_id).select_related("host").first()
    if space is None:
        return _refused("chat", "This Space doesn't exist.", 404)
    if space.is_live:
        refusal = access.entry_refusal(space, request.user)
    elif space.state == Space.State.ENDED and can_view(space, request.user):
        refusal = ticket_refusal(space, request.user)
    else:
        refusal = "This Space's chat isn't available."
    if refusal:
        return _refused("chat", refusal, 403)
    try:
        before = _id_parameter(request, "before")
    except ValueError:
        return _refused("chat", "“before” must be a message id.", 400)
    messages = chat.history(space.pk, before)
    older = messages[0].id if len(messages) == chat.HISTORY_PAGE else None
    return HttpResponse(msgspec.json.encode({"messages": messages, "before": older}), content_type="application/json")


@require_GET
@never_cache
def moderation_log(request: HttpRequest, space_id: int) -> HttpResponse:
    """GET /spaces/<id>/room/log/?before=<entry id>: what moderators did in this Space, newest first, 50 a
    page. For its host and co-hosts (and staff), live or ended. Staff are named as staff, not by handle."""
    space = get_object_or_404(Space, pk=space_id)
    if not modlog.may_read(space, request.user):
        return _refused("log", "Only the host and co-hosts can read this Space's moderation log.", 403)
    try:
        before = _id_parameter(request, "before")
    except ValueError:
        return _refused("log", "“before” must be an entry id.", 400)
    entries = list(modlog.entries_for(space.pk, before))
    page = [
        {
            "id": entry.pk,
            "action": entry.action,
            "label": entry.get_action_display(),
            "actor": "" if entry.as_staff or entry.actor is None else entry.actor.handle,
            "staff": entry.as_staff,
            "target": entry.target.handle if entry.target else None,
            "detail": entry.detail,
            "at": entry.created_at.isoformat(),
        }
        for entry in entries
    ]
    older = entries[-1].pk if len(entries) == modlog.PAGE else None
    return JsonResponse({"entries": page, "before": older})


def _id_parameter(request: HttpRequest, name: str) -> int | None:
    """A positive integer query parameter, or None when absent. Raises ValueError when it isn't one."""
    value = request.GET.get(name, "")
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 2**63:
        raise ValueError(name)
    return int(value)


def _over_budget(request: HttpRequest, scope: str = "room", times: int = 1) -> bool:
    """The socket's message budget (live.guard) times `times`, counted in the cache so every process
    shares it."""
    key = guard.budget_key(request.user.pk if request.user.is_authenticated else None, request.META.get("REMOTE_ADDR"))
    if key is None:
        return False
    limit, window = settings.SPACES_MESSAGES_PER_USER * times, int(protocol.RATE_WINDOW)
    return not ratelimit.allow(scope, f"{key[0]}:{key[1]}", limit=limit, window=window)


def _fields(request: HttpRequest) -> dict[str, str]:
    if request.content_type == "application/json":
        try:
            body = msgspec.json.decode(request.body or b"{}")
        except (msgspec.DecodeError, RecursionError):
            raise protocol.BadMessage("The message isn't valid JSON.") from None
        if not isinstance(body, dict):
            raise protocol.BadMessage("A message is a JSON object.")
        body.pop("action", None)
        return body
    return {name: request.POST[name] for name in request.POST if name != "csrfmiddlewaretoken"}


def _refused(action: str, reason: str, status: int) -> JsonResponse:
    return JsonResponse({"event": "error", "action": action, "reason": reason}, status=status)
