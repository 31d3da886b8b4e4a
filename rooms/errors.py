"""The one error a Space service raises: its message is shown to the user as it is."""

from __future__ import annotations


class RoomError(Exception):
    """A refused action; the message is shown to the user as it is.

    `field` names the form field the problem belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
