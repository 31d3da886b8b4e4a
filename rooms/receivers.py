"""Signal receivers of the live room: logging out closes that user's open room sockets; a ban also ends
the user's Spaces."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver

from accounts.signals import user_banned

from . import events, services

logger = logging.getLogger(__name__)


@receiver(user_logged_out, dispatch_uid="rooms.close_sockets_on_logout")
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    if user is None or not user.is_authenticated:
        return
    _close_sockets(user)


@receiver(user_banned, dispatch_uid="rooms.close_spaces_of_banned_user")
def close_spaces_of_banned_user(sender, user, **kwargs) -> None:
    services.close_spaces_of_banned_host(user)
    transaction.on_commit(lambda: _close_sockets(user))


def _close_sockets(user) -> None:
    try:
        # Every process's hub gets it and closes the sockets it holds for this user.
        events.send_to_hubs({"type": "hub.logout", "user_id": user.pk})
    except Exception:  # logging out must work even when the channel layer is down
        logger.exception("could not close the room sockets of user %s", user.pk)
