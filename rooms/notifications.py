"""Telling people about Spaces: who hears about what, in batches, once.

A transition records one `fan_out_notifications` job in its own transaction (the outbox, `jobs`), so the
intent survives a broker outage; it is handed to Celery once that commits. The task only reads recipient
ids, page by page, and records one `deliver_notifications` job per page of SPACES_NOTIFY_BATCH_SIZE, so a
host with 50,000 followers costs the request nothing and no task runs for minutes. Delivery is
idempotent: notifications are inserted with ignore_conflicts against the (recipient, kind, space)
constraint, and an e-mail is claimed (`emailed_at`) before it is sent. One message that can never be sent
(a bad header or address) is logged and skipped; the rest of its batch still goes out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from smtplib import SMTPRecipientsRefused

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

import jobs
import push
from accounts.models import Block, User

from .models import Notification, Reminder, Space

logger = logging.getLogger(__name__)

Kind = Notification.Kind
FAN_OUT_KINDS = (Kind.HOST_LIVE, Kind.REMINDER, Kind.CANCELLED)
PUSH_KINDS = (Kind.HOST_LIVE, Kind.REMINDER)  # to phones too: "a host you follow is live", "it's starting"
FAN_OUT_TASK = "rooms.tasks.fan_out_notifications"
DELIVER_TASK = "rooms.tasks.deliver_notifications"
# Failures that belong to one message and will not change on a retry (BadHeaderError is a ValueError).
UNSENDABLE = (ValueError, UnicodeError, SMTPRecipientsRefused)


# --- Enqueueing (called from rooms.services inside their transaction) ---------------------------------


def _enqueue(space: Space, kind: str) -> None:
    jobs.enqueue(FAN_OUT_TASK, space.pk, str(kind))


def enqueue_batches(space: Space, kind: str) -> int:
    """One delivery job per page of recipients, recorded together. Returns how many pages."""
    with transaction.atomic():
        pages = 0
        for ids in recipient_id_batches(space, kind):
            jobs.enqueue(DELIVER_TASK, space.pk, str(kind), ids)
            pages += 1
    return pages


def enqueue_go_live(space: Space) -> None:
    """Followers hear that the host is live; people with a reminder hear that the Space started."""
    _enqueue(space, Kind.HOST_LIVE)
    _enqueue(space, Kind.REMINDER)


def enqueue_cancelled(space: Space) -> None:
    _enqueue(space, Kind.CANCELLED)


# --- Who hears about what ---------------------------------------------------------------------------


def recipients(space: Space, kind: str) -> QuerySet[User]:
    """Active users to tell about `space`; never the host, never across a block either way."""
    users = User.objects.filter(is_active=True).exclude(pk=space.host_id)
    blocked = Block.objects.filter(blocker_id=space.host_id, blocked=OuterRef("pk"))
    blocking = Block.objects.filter(blocker=OuterRef("pk"), blocked_id=space.host_id)
    users = users.exclude(Exists(blocked)).exclude(Exists(blocking))
    has_reminder = Reminder.objects.filter(space=space, user=OuterRef("pk"))
    if kind == Kind.HOST_LIVE:
        # Followers who also set a reminder get the reminder instead: one notification per event.
        return users.filter(following_set__followee_id=space.host_id).exclude(Exists(has_reminder))
    if kind in (Kind.REMINDER, Kind.CANCELLED):
        return users.filter(Exists(has_reminder))
    raise ValueError(f"no fan-out for {kind!r}")


def recipient_id_batches(space: Space, kind: str, size: int | None = None) -> Iterator[list[int]]:
    """Recipient ids in pages, by keyset so that each page is one indexed query."""
    size = size or settings.SPACES_NOTIFY_BATCH_SIZE
    query = recipients(space, kind).order_by("pk").values_list("pk", flat=True)
    last_id = 0
    while True:
        ids = list(query.filter(pk__gt=last_id)[:size])
        if not ids:
            return
        yield ids
        last_id = ids[-1]


# --- Delivery ---------------------------------------------------------------------------------------


def text_for(space: Space, kind: str) -> str:
    host = space.host
    if kind == Kind.HOST_LIVE:
        text = f"{host.name} (@{host.handle}) is live: {space.title}"
    elif kind == Kind.REMINDER:
        text = f"It's starting: {space.title}, hosted by @{host.handle}"
    elif kind == Kind.CANCELLED:
        text = f"Cancelled: {space.title}, hosted by @{host.handle}"
    else:
        raise ValueError(f"no text for {kind!r}")
    max_length = Notification.TEXT_MAX_LENGTH
    return text if len(text) <= max_length else text[: max_length - 1] + "…"


def deliver(space_id: int, kind: str, recipient_ids: list[int]) -> int:
    """Notify one batch; safe to run again. Returns how many e-mails this run sent."""
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        return 0
    # Eligibility may have changed since the page was read (a block, a ban): check it again.
    ids = list(recipients(space, kind).filter(pk__in=recipient_ids).values_list("pk", flat=True))
    if not ids:
        return 0
    text = text_for(space, kind)
    now = timezone.now()
    with transaction.atomic():
        # Pushed to phones only for those told for the first time: a rerun of this job buzzes nobody twice.
        told_before = set(
            Notification.objects.filter(space=space, kind=kind, recipient_id__in=ids).values_list(
                "recipient_id", flat=True
            )
        )
        Notification.objects.bulk_create(
            [
                Notification(
                    recipient_id=user_id, kind=kind, space=space, actor_id=space.host_id, text=text, created_at=now
                )
                for user_id in ids
            ],
            ignore_conflicts=True,
        )
        if kind in PUSH_KINDS:
            push.enqueue([user_id for user_id in ids if user_id not in told_before], push_message(space, kind))
    return _send_emails(space, kind, ids)


def push_message(space: Space, kind: str) -> dict[str, str]:
    """What a phone shows (push/, the service worker): who and what, and the Space to open."""
    host = space.host
    if kind == Kind.HOST_LIVE:
        title, body = f"{host.name} is live", space.title
    else:
        title, body = "Starting now", f"{space.title} · hosted by @{host.handle}"
    return {"title": title, "body": body, "url": space.get_absolute_url(), "tag": f"space-{space.pk}-{kind}"}


def _claim_emails(space: Space, kind: str, ids: list[int]) -> list[Notification]:
    """Mark this batch's unsent e-mails as sent, in a committed transaction, and return them."""
    with transaction.atomic():
        pending = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                space=space,
                kind=kind,
                recipient_id__in=ids,
                emailed_at__isnull=True,
                recipient__email_notifications=True,
                recipient__is_active=True,
            )
            .select_related("recipient")
        )
        if pending:
            Notification.objects.filter(pk__in=[n.pk for n in pending]).update(emailed_at=timezone.now())
    return pending


def _send_emails(space: Space, kind: str, ids: list[int]) -> int:
    claimed = _claim_emails(space, kind, ids)
    if not claimed:
        return 0
    space_url = settings.SITE_URL.rstrip("/") + space.get_absolute_url()
    settings_url = settings.SITE_URL.rstrip("/") + reverse("accounts:edit_profile")
    sent = done = 0  # done: sent or skipped as unsendable
    try:
        # One connection for the batch; one message at a time so that a failure part-way knows
        # exactly which e-mails went out.
        with mail.get_connection() as connection:
            for notification in claimed:
                context = {
                    "notification": notification,
                    "space": space,
                    "recipient": notification.recipient,
                    "space_url": space_url,
                    "settings_url": settings_url,
                }
                message = mail.EmailMessage(
                    subject=notification.text,
                    body=render_to_string("rooms/email/notification.txt", context),
                    to=[notification.recipient.email],
                    headers={"List-Unsubscribe": f"<{settings_url}>"},
                    connection=connection,
                )
                try:
                    message.send()
                except UNSENDABLE as exc:
                    # Its claim stays: this one is never tried again, and the others still go out.
                    logger.warning("notification %s: e-mail can't be sent, skipped: %r", notification.pk, exc)
                else:
                    sent += 1
                done += 1
    except Exception:
        # The mail server failed: release the claim on this message and the ones after it, so that the
        # job's retry sends exactly those.
        unsent = [n.pk for n in claimed[done:]]
        Notification.objects.filter(pk__in=unsent).update(emailed_at=None)
        logger.warning("space %s: %s e-mails failed, released for retry", space.pk, len(unsent))
        raise
    return sent


# --- Reading ------------------------------------------------------------------------------------------


def unread(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, read_at__isnull=True)


def mark_read(user: User, notification_id: int | None = None) -> int:
    """Mark one of `user`'s notifications read, or all of them. Returns how many changed."""
    notifications = unread(user)
    if notification_id is not None:
        notifications = notifications.filter(pk=notification_id)
    return notifications.update(read_at=timezone.now())
