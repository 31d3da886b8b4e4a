"""Signals other apps listen to, so that accounts never imports them."""

from django.dispatch import Signal

# Sent inside the transaction that banned the user: rooms ends their Spaces and closes their sockets.
user_banned = Signal()  # sender=User, user=..., by=the staff member or None
# Sent inside the transaction that made a new block: the live room ejects `blocked` from `blocker`'s Space.
user_blocked = Signal()  # sender=User, blocker=..., blocked=...
