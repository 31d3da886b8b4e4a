"""How the live room hears about the rest of the site: lifecycle signals from rooms, log-outs and bans.

rooms never imports the live app; it sends signals inside its transactions and these receivers turn
them into room events (numbered in the same transaction, sent after commit) or socket closes.
"""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver

from accounts.signals import user_banned
from rooms.signals import space_ended, space_updated

from . import events
from .protocol import events as ev

logger = logging.getLogger(__name__)


@receiver(space_ended, dispatch_uid="live.space_ended")
def announce_space_ended(sender, space, reason: str, **kwargs) -> None:
    events.emit(space.pk, ev.SpaceEnded(reason=reason))


@receiver(space_updated, dispatch_uid="live.space_updated")
def announce_space_updated(sender, space, **kwargs) -> None:
    events.emit(space.pk, ev.SpaceUpdated(title=space.title, description=space.description))


@receiver(user_logged_out, dispatch_uid="live.close_sockets_on_logout")
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    if user is None or not user.is_authenticated:
        return
    _close_sockets(user)


@receiver(user_banned, dispatch_uid="live.close_sockets_of_banned_user")
def close_sockets_of_banned_user(sender, user, **kwargs) -> None:
    transaction.on_commit(lambda: _close_sockets(user))


def _close_sockets(user) -> None:
    try:
        # Every process's hub gets it and closes the sockets it holds for this user.
        events.send_to_hubs({"type": "hub.logout", "user_id": user.pk})
    except Exception:  # logging out must work even when the channel layer is down
        logger.exception("could not close the room sockets of user %s", user.pk)
