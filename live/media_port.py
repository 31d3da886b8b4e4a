"""The live room's one door to the media engine.

The media app depends on the live room (who may be heard, room events), never the other way round: it
registers its client here when it starts (media.apps), and the room's consumer negotiates through it.
"""

from __future__ import annotations

from typing import Protocol


class MediaError(Exception):
    """The media engine refuses a negotiation; str() is a reason fit to show the user."""


class MediaClient(Protocol):
    async def negotiate(self, space_id: int, user_id: int | None, sdp: str, type: str, *,  # noqa: A002
                        socket_id: str | None = None, address: str | None = None) -> dict: ...  # fmt: skip


class _NoMedia:
    async def negotiate(self, space_id: int, user_id: int | None, sdp: str, type: str, *,  # noqa: A002
                        socket_id: str | None = None, address: str | None = None) -> dict:  # fmt: skip
        raise MediaError("Audio isn't available on this server.")


_client: MediaClient = _NoMedia()


def register(client: MediaClient) -> None:
    global _client
    _client = client


async def negotiate(space_id: int, user_id: int | None, sdp: str, sdp_type: str, *,
                    socket_id: str | None = None, address: str | None = None) -> dict:  # fmt: skip
    """Answer a client's offer for this room: {"sdp": ..., "type": "answer"}. Raises MediaError.

    `socket_id` names the room socket (its next offer replaces its peer), `address` the client's address
    (an anonymous visitor's peers are capped per address)."""
    return await _client.negotiate(space_id, user_id, sdp, sdp_type, socket_id=socket_id, address=address)
