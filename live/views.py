"""The live room page, and HTTP fallbacks for room actions (the same live.stage functions)."""

from __future__ import annotations

import msgspec
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from rooms.models import Space
from rooms.services import RoomError

from . import access, protocol, stage
from .ice import ice_servers


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
    return {name: value for name, value in request.POST.items() if name != "csrfmiddlewaretoken"}


def _refused(action: str, reason: str, status: int) -> JsonResponse:
    return JsonResponse({"event": "error", "action": action, "reason": reason}, status=status)
