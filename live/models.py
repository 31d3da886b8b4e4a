from __future__ import annotations

from django.db import models


class RoomSequence(models.Model):
    """The seq of the last delta a live room was sent.

    Taken inside the transaction that changes the room (live.events.emit), while the Space row is
    locked, so the numbers follow commit order on every process. The row is created by the first delta.
    """

    space = models.OneToOneField("rooms.Space", on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"space {self.space_id}: seq {self.last_seq}"
