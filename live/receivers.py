"""How the live room hears about the rest of the site: lifecycle signals from rooms, log-outs, bans, blocks
and refunds.

rooms, accounts and payments never import the live app; they send signals inside their transactions and
these receivers turn them into room events (numbered in their own transaction once the sender's has
committed, sent after commit) or socket closes. Someone who may no longer be in a room (the host blocked
them, their ticket was refunded, their account was banned) is ejected at once: off the stage, not heard,
their sockets and audio closed (live.stage.eject), not at their next action.
"""

from __future__ import annotations

import logging
from typing import cast

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver

from accounts.models import User
from accounts.signals import user_banned, user_blocked
from payments.signals import ticket_refunded
from rooms.models import Participant, Space
from rooms.signals import space_ended, space_updated

from . import events, presence, stage
from .access import entry_refusal
from .protocol import events as ev

logger = logging.getLogger(__name__)


@receiver(space_ended, dispatch_uid="live.space_ended")
def announce_space_ended(sender, space, reason: str, **kwargs) -> None:
    events.emit(space.pk, ev.SpaceEnded(reason=cast(ev.EndReason, reason)))


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
    # Their sockets close everywhere; ejecting them also closes their audio and clears the stage.
    transaction.on_commit(lambda: _eject_everywhere(user), robust=True)


@receiver(user_blocked, dispatch_uid="live.eject_blocked_user")
def eject_blocked_user(sender, blocker, blocked, **kwargs) -> None:
    def eject() -> None:
        for space in Space.objects.live().filter(host=blocker):
            _eject_if_refused(space, blocked, "blocked", by=blocker.handle)

    transaction.on_commit(eject, robust=True)


@receiver(ticket_refunded, dispatch_uid="live.eject_refunded_buyer")
def eject_refunded_buyer(sender, ticket, **kwargs) -> None:
    def eject() -> None:
        space = Space.objects.live().filter(pk=ticket.space_id).first()
        buyer = User.objects.filter(pk=ticket.buyer_id).first()
        # Always, even if the registry hasn't counted them yet (they joined a second ago): a refund is rare,
        # and the ticket was theirs to lose.
        if space is not None and buyer is not None and entry_refusal(space, buyer) is not None:
            stage.eject(space, buyer, reason="ticket_refunded")

    transaction.on_commit(eject, robust=True)


def _eject_if_refused(space: Space, user: User, reason: ev.RemovalReason, by: str = "") -> None:
    """Eject `user` if they may no longer enter (a co-host whose ticket was refunded may stay) and may be
    in the room now (a block of someone who isn't there tells the room nothing)."""
    if entry_refusal(space, user) is None or not _may_be_in(space, user):
        return
    stage.eject(space, user, reason=reason, by=by)


def _eject_everywhere(user: User) -> None:
    taking_part = Participant.objects.filter(user=user, removed_at__isnull=True).values("space_id")
    for space in Space.objects.live().exclude(host=user).filter(pk__in=taking_part):
        stage.eject(space, user, reason="banned")
    for space in Space.objects.live().exclude(host=user).exclude(pk__in=taking_part):
        if _is_connected(space, user):
            stage.eject(space, user, reason="banned")


def _may_be_in(space: Space, user: User) -> bool:
    if Participant.objects.filter(space=space, user=user, removed_at__isnull=True).exists():
        return True
    return _is_connected(space, user)


def _is_connected(space: Space, user: User) -> bool:
    try:
        return user.pk in presence.read_audience(space.pk).user_ids
    except Exception:  # the registry is down: better an ejection too many than a listener left in
        logger.warning("could not read the audience of space %s", space.pk, exc_info=True)
        return True


def _close_sockets(user) -> None:
    try:
        # Every process's hub gets it and closes the sockets it holds for this user.
        events.send_to_hubs({"type": "hub.logout", "user_id": user.pk})
    except Exception:  # logging out must work even when the channel layer is down
        logger.exception("could not close the room sockets of user %s", user.pk)
