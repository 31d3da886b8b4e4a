"""Signal receivers of the catalogue: a ban ends the user's live Space and cancels their scheduled ones."""

from __future__ import annotations

from django.dispatch import receiver

from accounts.signals import user_banned

from . import services


@receiver(user_banned, dispatch_uid="rooms.close_spaces_of_banned_user")
def close_spaces_of_banned_user(sender, user, **kwargs) -> None:
    services.close_spaces_of_banned_host(user)
