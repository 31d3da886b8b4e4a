"""The Space page's hand-over to the live room.

A live Space's page is its room for everyone who may enter. The live app owns that room and registers
a door here when it starts (live.apps), so the catalogue never imports it; without one (an install
without the live app) the Space page shows what it would show anyone who may not enter.
"""

from __future__ import annotations

from typing import Protocol

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

from accounts.models import User

from .models import Space


class LiveRoomDoor(Protocol):
    def entry_refusal(self, space: Space, user: User | AnonymousUser) -> str | None:
        """Why `user` may not enter the live room, or None."""
        ...

    def render(self, request: HttpRequest, space: Space) -> HttpResponse:
        """The live room's page."""
        ...


class _Closed:
    def entry_refusal(self, space: Space, user: User | AnonymousUser) -> str | None:
        return "The live room isn't available on this server."

    def render(self, request: HttpRequest, space: Space) -> HttpResponse:  # pragma: no cover - never entered
        raise NotImplementedError


_door: LiveRoomDoor = _Closed()


def register_live_room(door: LiveRoomDoor) -> None:
    global _door
    _door = door


def live_room_door() -> LiveRoomDoor:
    return _door
