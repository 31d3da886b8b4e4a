from __future__ import annotations


class TicketError(Exception):
    """A ticket action that is not allowed; the message is shown to the user."""


class FulfilmentMismatch(Exception):
    """A Checkout Session that does not match the ticket it names: never grants anything."""
