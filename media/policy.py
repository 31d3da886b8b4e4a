"""Who may enter, publish and be heard, read from the database off the audio clock."""

from __future__ import annotations

from channels.db import database_sync_to_async


def _entry_refusal(space_id: int, user_id: int | None) -> str | None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser

    from live.access import entry_refusal
    from rooms.models import Space

    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return "This Space doesn't exist."
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    # rooms.access covers blocks, removal and tickets: the same rule as the page and the socket.
    return entry_refusal(space, user or AnonymousUser())


def _publisher_user_ids(space_id: int) -> set[int]:
    """Everyone on stage, muted or not: they may negotiate send-and-receive, so unmuting needs no
    renegotiation. Whether they are *heard* is audible_user_ids, checked every tick."""
    from live.stage import STAGE_ROLES
    from rooms.models import Participant, Space

    ids = set(
        Participant.objects.filter(space_id=space_id, role__in=STAGE_ROLES, removed_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    host_id = Space.objects.filter(pk=space_id).values_list("host_id", flat=True).first()
    if host_id is not None:
        ids.add(host_id)
    return ids


def _audible_user_ids(space_id: int) -> set[int]:
    from live.stage import audible_user_ids

    return set(audible_user_ids(space_id))


def _demo_voice_user_id(space_id: int) -> int | None:
    from rooms.models import Space

    return Space.objects.filter(pk=space_id).values_list("demo_voice_id", flat=True).first()


class DjangoPolicy:
    """The engine's Policy backed by rooms.access and live.stage."""

    async def entry_refusal(self, space_id: int, user_id: int | None) -> str | None:
        return await database_sync_to_async(_entry_refusal)(space_id, user_id)

    async def publisher_user_ids(self, space_id: int) -> set[int]:
        return await database_sync_to_async(_publisher_user_ids)(space_id)

    async def audible_user_ids(self, space_id: int) -> set[int]:
        return await database_sync_to_async(_audible_user_ids)(space_id)

    async def demo_voice_user_id(self, space_id: int) -> int | None:
        return await database_sync_to_async(_demo_voice_user_id)(space_id)


async def publish_levels(space_id: int, levels: dict[str, float]) -> None:
    """Speaking levels to the room as a volatile event (dropped rather than queued when late)."""
    from live.events import send_volatile
    from live.protocol import Speaking

    # send_volatile schedules the group send itself when called on the event loop.
    send_volatile(space_id, Speaking(levels=levels))
