"""The room's chat and its pinned link: send, delete, mute in chat, the chat's mode and slow mode, pin.

Stage actions like live.stage's (dispatched from stage.STAGE_ACTIONS): each checks the actor against the
database as it is now, changes it in one transaction that holds the Space row, emits its delta there
(numbered with the room's other deltas, sent after commit) and, for a moderator's action, writes the
moderation log in the same transaction (live.modlog).

Who may write: anyone logged in who may enter, as the mode allows (`everyone`; `speakers`: host, co-hosts
and speakers; `off`: nobody), unless a host or co-host muted them in the chat. Slow mode spaces each
person's messages (the host and co-hosts aside). Besides, a person may send SPACES_CHAT_MESSAGES_PER_WINDOW
messages per SPACES_CHAT_WINDOW_SECONDS to a room, counted in the cache over all their sockets and every
server process, before anything touches the database; and the operator's word filter refuses messages
(live.wordfilter).
"""

from __future__ import annotations

import math
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import ratelimit
from accounts.models import User
from rooms.models import Participant, Space
from rooms.services import RoomError

from . import events, modlog, protocol, wordfilter
from .models import ChatMessage, ChatMute, ChatSettings
from .protocol import events as ev
from .protocol.actions import clean_chat_text, clean_link
from .roles import MODERATOR_ROLES, STAGE_ROLES, AnyUser, SpaceRef, role_of, space_id_of
from .seats import Seat, enter, need_moderator, user_named

Role = Participant.Role
Log = modlog.Action
HISTORY_PAGE = 50
TRANSCRIPT = 200  # messages shown beside a replay
BLOCKED_WORDS = "Your message wasn't sent: it contains a word this site doesn't allow."


# --- What the wire shows -------------------------------------------------------------------------------


def line(message: ChatMessage) -> protocol.ChatLine:
    """A message as the snapshot and the history list it (select_related user and deleted_by)."""
    deleted_by = None
    if message.deleted_at is not None:
        deleted_by = "" if message.deleted_by_staff or message.deleted_by is None else message.deleted_by.handle
    return protocol.ChatLine(
        id=message.pk,
        user=message.user.handle,
        user_id=message.user_id,
        name=message.user.name,
        hue=message.user.avatar_hue,
        text=message.text,
        sent_at=message.sent_at.isoformat(),
        deleted_by=deleted_by,
    )


def _messages(space_id: int):
    return ChatMessage.objects.filter(space_id=space_id).select_related("user", "deleted_by").order_by("-id")


def history(space_id: int, before: int | None = None, limit: int = HISTORY_PAGE) -> list[protocol.ChatLine]:
    """Messages older than `before` (a message id), `limit` of them, oldest first."""
    messages = _messages(space_id)
    if before is not None:
        messages = messages.filter(pk__lt=before)
    return [line(message) for message in reversed(messages[:limit])]


def rules_of(space: Space | int) -> ChatSettings:
    """The room's chat settings (unsaved defaults when nobody changed them)."""
    space_id = space_id_of(space)
    found = ChatSettings.objects.select_related("pinned_by").filter(space_id=space_id).first()
    return found or ChatSettings(space_id=space_id)


def pinned(rules: ChatSettings) -> protocol.PinnedLink | None:
    if not rules.pinned_url:
        return None
    return protocol.PinnedLink(
        url=rules.pinned_url,
        title=rules.pinned_title,
        domain=(urlsplit(rules.pinned_url).hostname or "").removeprefix("www."),
        by=rules.pinned_by.handle if rules.pinned_by else "",
        pinned_at=rules.pinned_at.isoformat() if rules.pinned_at else "",
    )


def chat_state(space_id: int, rules: ChatSettings, *, moderator: bool) -> protocol.ChatState:
    """The snapshot's `chat`: the latest messages (deleted ones without text), the rules, and for the host
    and co-hosts who is muted."""
    muted: list[str] = []
    if moderator:
        mutes = ChatMute.objects.filter(space_id=space_id).values_list("user__handle", flat=True)
        muted = sorted(mutes, key=str.lower)
    latest = [line(message) for message in reversed(_messages(space_id)[: protocol.CHAT_IN_SNAPSHOT])]
    return protocol.ChatState(mode=rules.mode, slow_seconds=rules.slow_seconds, messages=latest, muted=muted)  # type: ignore[arg-type]


def is_chat_muted(space_id: int, user_id: int) -> bool:
    return ChatMute.objects.filter(space_id=space_id, user_id=user_id).exists()


# --- Writing --------------------------------------------------------------------------------------------


def chat(space: SpaceRef, actor: AnyUser, text: str) -> None:
    """Send a message to the room's chat."""
    try:
        text = clean_chat_text(text)
    except ValueError as exc:
        raise RoomError(str(exc)) from None
    if not actor.is_authenticated:
        raise RoomError("Log in to take part.")
    if wordfilter.blocked(text):
        raise RoomError(BLOCKED_WORDS)
    # Over every socket and server process, and before the database.
    key = f"{space_id_of(space)}:{actor.pk}"
    limit, window = settings.SPACES_CHAT_MESSAGES_PER_WINDOW, settings.SPACES_CHAT_WINDOW_SECONDS
    if not ratelimit.allow("chat", key, limit=limit, window=window):
        raise RoomError("Slow down: you're sending messages too fast.")
    with transaction.atomic():
        seat = enter(space, actor)
        _check_may_write(seat, rules_of(seat.space))
        message = ChatMessage.objects.create(space=seat.space, user=seat.actor, text=text)
        sent = line(message)
        events.emit(
            seat.space.pk,
            ev.ChatMessageSent(
                id=sent.id,
                user=sent.user,
                user_id=sent.user_id,
                name=sent.name,
                hue=sent.hue,
                text=sent.text,
                sent_at=sent.sent_at,
            ),
        )


def _check_may_write(seat: Seat, rules: ChatSettings) -> None:
    if rules.mode == ChatSettings.Mode.OFF:
        raise RoomError("The chat is off.")
    if rules.mode == ChatSettings.Mode.SPEAKERS and seat.role not in STAGE_ROLES:
        raise RoomError("Only the host, co-hosts and speakers can write in the chat right now.")
    if is_chat_muted(seat.space.pk, seat.actor.pk):
        raise RoomError("A host muted you in this chat: you can still listen.")
    if rules.slow_seconds and seat.role not in MODERATOR_ROLES:
        last = (
            ChatMessage.objects.filter(space=seat.space, user=seat.actor)
            .order_by("-sent_at")
            .values_list("sent_at", flat=True)
            .first()
        )
        if last is not None:
            wait = rules.slow_seconds - (timezone.now() - last).total_seconds()
            if wait > 0:
                raise RoomError(f"Slow mode is on: you can send another message in {math.ceil(wait)} s.")


def delete_message(space: SpaceRef, actor: AnyUser, id: int, *, as_staff: bool = False) -> None:
    """Delete a message: its author may, and the host and co-hosts (co-hosts not the host's)."""
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        message = _messages(seat.space.pk).filter(pk=id).first()
        if message is None:
            raise RoomError("That message isn't in this chat.")
        if message.user_id != seat.actor.pk:
            need_moderator(seat)
            if message.user_id == seat.space.host_id and not seat.is_host:
                raise RoomError("Co-hosts can't delete the host's messages.")
        if message.deleted_at is not None:
            return
        _delete(seat.space.pk, message, seat.actor, staff=seat.as_staff, emit=True)


def delete_as_staff(message: ChatMessage, staff: User) -> None:
    """Staff delete a message from the admin or a report, in a live room (the room sees it go) or after."""
    with transaction.atomic():
        locked = Space.objects.select_for_update().get(pk=message.space_id)
        message = _messages(locked.pk).get(pk=message.pk)
        if message.deleted_at is None:
            _delete(locked.pk, message, staff, staff=True, emit=locked.is_live)


def _delete(space_id: int, message: ChatMessage, by: User, *, staff: bool, emit: bool) -> None:
    excerpt = message.text if len(message.text) <= 120 else message.text[:119] + "…"
    message.text, message.deleted_at, message.deleted_by, message.deleted_by_staff = "", timezone.now(), by, staff
    message.save(update_fields=["text", "deleted_at", "deleted_by", "deleted_by_staff"])
    if message.user_id != by.pk:
        modlog.record(space_id, by, Log.DELETE_MESSAGE, message.user, detail=f"“{excerpt}”", as_staff=staff)
    if emit:
        events.emit(space_id, ev.MessageDeleted(id=message.pk, by="" if staff else by.handle))


def chat_mute(space: SpaceRef, actor: AnyUser, user: str | User, *, as_staff: bool = False) -> None:
    """Mute someone in the chat: they still listen and may speak if on stage, but can't write."""
    _set_chat_mute(space, actor, user, True, as_staff=as_staff)


def chat_unmute(space: SpaceRef, actor: AnyUser, user: str | User, *, as_staff: bool = False) -> None:
    _set_chat_mute(space, actor, user, False, as_staff=as_staff)


def _set_chat_mute(space: SpaceRef, actor: AnyUser, user: str | User, muted: bool, *, as_staff: bool) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        found = user_named(user)
        if found.pk == seat.actor.pk:
            raise RoomError("You can't mute yourself in the chat.")
        if found.pk == seat.space.host_id:
            raise RoomError("The host can't be muted in the chat.")
        participant = Participant.objects.filter(space=seat.space, user=found).first()
        if role_of(seat.space, found.pk, participant) == Role.COHOST and not seat.is_host:
            raise RoomError("Only the host can mute a co-host in the chat.")
        if muted:
            _, changed = ChatMute.objects.get_or_create(space=seat.space, user=found, defaults={"muted_by": seat.actor})
        else:
            changed = ChatMute.objects.filter(space=seat.space, user=found).delete()[0] > 0
        if not changed:
            return
        modlog.record_seat(seat, Log.CHAT_MUTE if muted else Log.CHAT_UNMUTE, found)
        by = "" if seat.as_staff else seat.actor.handle
        events.emit(seat.space.pk, ev.ChatMuteChanged(user=found.handle, user_id=found.pk, muted=muted, by=by))


def set_chat(
    space: SpaceRef,
    actor: AnyUser,
    mode: str | None = None,
    slow_seconds: int | None = None,
    *,
    as_staff: bool = False,
) -> None:
    """Who may write (`everyone`, `speakers`, `off`) and slow mode (seconds between one person's messages)."""
    if mode is not None and mode not in ChatSettings.Mode.values:
        raise RoomError("The chat's mode is everyone, speakers or off.")
    if slow_seconds is not None and not 0 <= slow_seconds <= protocol.limits.MAX_SLOW_SECONDS:
        raise RoomError(f"Slow mode is 0 to {protocol.limits.MAX_SLOW_SECONDS} seconds.")
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        rules, _ = ChatSettings.objects.get_or_create(space=seat.space)
        new_mode = mode if mode is not None else rules.mode
        new_slow = slow_seconds if slow_seconds is not None else rules.slow_seconds
        if (new_mode, new_slow) == (rules.mode, rules.slow_seconds):
            return
        rules.mode, rules.slow_seconds = new_mode, new_slow
        rules.save(update_fields=["mode", "slow_seconds"])
        slow = f"slow mode {new_slow} s" if new_slow else "no slow mode"
        modlog.record_seat(seat, Log.SET_CHAT, detail=f"chat: {rules.get_mode_display().lower()}, {slow}")
        by = "" if seat.as_staff else seat.actor.handle
        events.emit(seat.space.pk, ev.ChatSettingsChanged(mode=new_mode, slow_seconds=new_slow, by=by))  # type: ignore[arg-type]


def pin(space: SpaceRef, actor: AnyUser, url: str, title: str | None = None, *, as_staff: bool = False) -> None:
    """Pin one link (http or https) for everyone; it replaces the one pinned before."""
    try:
        url, title = clean_link(url, title)
    except ValueError as exc:
        raise RoomError(str(exc)) from None
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        rules, _ = ChatSettings.objects.get_or_create(space=seat.space)
        rules.pinned_url, rules.pinned_title = url, title
        # Staff pin as the site (`by` ""); the log keeps who it was.
        rules.pinned_by, rules.pinned_at = None if seat.as_staff else seat.actor, timezone.now()
        rules.save(update_fields=["pinned_url", "pinned_title", "pinned_by", "pinned_at"])
        modlog.record_seat(seat, Log.PIN, detail=f"{title} <{url}>")
        link = pinned(rules)
        events.emit(seat.space.pk, ev.Pinned(link=link, by=link.by if link else ""))


def unpin(space: SpaceRef, actor: AnyUser, *, as_staff: bool = False) -> None:
    with transaction.atomic():
        seat = enter(space, actor, as_staff=as_staff)
        need_moderator(seat)
        rules = ChatSettings.objects.filter(space=seat.space).first()
        if rules is None or not rules.pinned_url:
            return
        detail = f"{rules.pinned_title} <{rules.pinned_url}>"
        rules.pinned_url, rules.pinned_title, rules.pinned_by, rules.pinned_at = "", "", None, None
        rules.save(update_fields=["pinned_url", "pinned_title", "pinned_by", "pinned_at"])
        modlog.record_seat(seat, Log.UNPIN, detail=detail)
        events.emit(seat.space.pk, ev.Pinned(link=None, by="" if seat.as_staff else seat.actor.handle))


# --- Retention --------------------------------------------------------------------------------------------


def transcript(space_id: int, limit: int = TRANSCRIPT) -> tuple[list[ChatMessage], int]:
    """The chat as the replay shows it: the first `limit` messages not deleted, oldest first, and how many
    there are in all."""
    kept = ChatMessage.objects.filter(space_id=space_id, deleted_at__isnull=True)
    return list(kept.select_related("user").order_by("id")[:limit]), kept.count()


def delete_messages(space_id: int) -> int:
    """Delete a Space's chat. The moderation log stays, and a report keeps its copy of a reported message.
    Returns how many messages went."""
    deleted, _ = ChatMessage.objects.filter(space_id=space_id).delete()
    return deleted


def delete_messages_ended_before(cutoff: datetime) -> int:
    """Delete the chat of every Space that ended before `cutoff`, recorded or not: the recordings app calls
    this with its retention (SPACES_RECORDING_RETENTION_DAYS)."""
    deleted, _ = ChatMessage.objects.filter(space__state=Space.State.ENDED, space__ended_at__lt=cutoff).delete()
    return deleted
