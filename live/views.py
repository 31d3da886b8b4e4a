"""The live room page, and HTTP fallbacks for room actions (the same live.stage functions)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from rooms.models import Space
from rooms.services import RoomError

from . import access, stage
from .ice import ice_servers


def live_room(request: HttpRequest, space: Space) -> HttpResponse:
    """The room while a Space is live (the Space page hands over here when the user may enter)."""
    return render(
        request,
        "live/room.html",
        {
            "space": space,
            # Rendered at once from the database; the socket's snapshot replaces it when it arrives.
            "initial": stage.snapshot(space, request.user),
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
    """POST /spaces/<id>/room/<action>/ with form fields `user` / `emoji`: the socket's actions over HTTP."""
    spec = stage.ACTIONS.get(action)
    if spec is None:
        return JsonResponse({"event": "error", "action": action[:40], "reason": "Unknown action."}, status=404)
    if not request.user.is_authenticated:
        return JsonResponse({"event": "error", "action": action, "reason": "Log in to take part."}, status=403)
    arguments = {name: request.POST[name] for name in spec.arguments if request.POST.get(name)}
    missing = [name for name, required in spec.arguments.items() if required and name not in arguments]
    if missing:
        return JsonResponse({"event": "error", "action": action, "reason": f"“{missing[0]}” is missing."}, status=400)
    try:
        spec.function(space_id, request.user, **arguments)
    except RoomError as exc:
        return JsonResponse({"event": "error", "action": action, "reason": str(exc)}, status=400)
    return JsonResponse({"ok": True, "action": action})
