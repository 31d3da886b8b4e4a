"""Signals other apps listen to, so that rooms never imports them (the live room, payments).

All are sent inside the transaction that changed the Space, while its row is locked; receivers that
talk to the outside world defer that work with transaction.on_commit.
"""

from django.dispatch import Signal

space_started = Signal()  # sender=Space, space=...
space_updated = Signal()  # sender=Space, space=... (title or description changed)
space_ended = Signal()  # sender=Space, space=..., reason=one of rooms.services.ENDED_*, by=User or None
space_cancelled = Signal()  # sender=Space, space=...
