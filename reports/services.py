"""Filing reports and deciding them: the one code path for the site's forms, the room and the admin.

Filing: a logged-in person reports a Space, a person (from the room: where they were) or a chat message,
with a reason and optional details, and may block the person in the same step. At most
SPACES_REPORTS_PER_HOUR per person (counted in the cache); the same open report twice is one report.

Deciding (staff, from the admin): dismiss, warn (an in-app notice to the reported person that names no
reporter), delete the reported message, end the Space, ban the account. Each decision is a `Decision` row
and, for what changes a Space, a moderation-log entry (live.modlog), in the same transaction. The reporter
hears once, when their report is first handled, in words that say neither who was reported by whom nor
what exactly was done.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import ratelimit
from accounts import services as accounts
from accounts.models import User
from live import chat, modlog
from live.models import ChatMessage
from rooms import services as rooms
from rooms.models import Notification, Space

from .models import Decision, Report


class ReportError(Exception):
    """A refused report or decision; the message is shown as it is."""


Action = Decision.Action
MAX_NOTICE = Notification._meta.get_field("text").max_length or 200


# --- Filing -------------------------------------------------------------------------------------------------


def report_space(reporter: User, space: Space, reason: str, details: str = "", *, block: bool = False) -> Report:
    return _file(reporter, Report.Kind.SPACE, reason, details, space=space, user=space.host, block=block)


def report_person(
    reporter: User, user: User, reason: str, details: str = "", *, space: Space | None = None, block: bool = False
) -> Report:
    """Report someone, from their profile or from a room (`space`: where it happened)."""
    return _file(reporter, Report.Kind.PERSON, reason, details, space=space, user=user, block=block)


def report_message(
    reporter: User, message: ChatMessage, reason: str, details: str = "", *, block: bool = False
) -> Report:
    return _file(
        reporter,
        Report.Kind.MESSAGE,
        reason,
        details,
        space=message.space,
        user=message.user,
        message=message,
        block=block,
    )


def _file(
    reporter: User,
    kind: str,
    reason: str,
    details: str,
    *,
    space: Space | None,
    user: User,
    message: ChatMessage | None = None,
    block: bool,
) -> Report:
    if not reporter.is_authenticated or not reporter.is_active:
        raise ReportError("Log in to report.")
    if reason not in Report.Reason.values:
        raise ReportError("Choose a reason.")
    if user.pk == reporter.pk:
        own = "your own Space" if kind == Report.Kind.SPACE else "yourself"
        raise ReportError(f"You can't report {own}.")
    details = details.strip()
    existing = Report.objects.filter(
        reporter=reporter, kind=kind, space=space, reported_user=user, message=message, state=Report.State.OPEN
    ).first()
    if existing is None and not ratelimit.allow(
        "report", reporter.pk, limit=settings.SPACES_REPORTS_PER_HOUR, window=3600
    ):
        raise ReportError("You've sent a lot of reports in the last hour. Try again later.")
    with transaction.atomic():
        if existing is not None:  # the same report again: keep one, with the newest words
            if details and details != existing.details:
                existing.details, existing.reason = details[:1000], reason
                existing.save(update_fields=["details", "reason"])
            report = existing
        else:
            report = Report.objects.create(
                kind=kind,
                reporter=reporter,
                space=space,
                reported_user=user,
                message=message,
                message_text=message.text if message is not None else "",
                reason=reason,
                details=details[:1000],
            )
        if block:
            try:
                accounts.block(reporter, user)
            except accounts.AccountError as exc:
                raise ReportError(str(exc)) from None
    return report


# --- Deciding (staff) ---------------------------------------------------------------------------------------


def decide(report: Report, staff: User, action: str, note: str = "") -> Decision:
    """Carry out one staff decision about `report`, record it, and tell the reporter when it is the first."""
    if not staff.is_staff:
        raise ReportError("Only staff can decide reports.")
    if action not in Action.values:
        raise ReportError("Unknown decision.")
    with transaction.atomic():
        locked = Report.objects.select_for_update(of=("self",)).select_related("space", "reported_user", "message")
        report = locked.get(pk=report.pk)
        _carry_out(report, staff, action, note)
        decision = Decision.objects.create(report=report, staff=staff, action=action, note=note.strip()[:500])
        first = report.state == Report.State.OPEN
        report.state = Report.State.DISMISSED if action == Action.DISMISS else Report.State.ACTIONED
        report.handled_at = report.handled_at or timezone.now()
        report.save(update_fields=["state", "handled_at"])
        if first and report.reporter is not None:
            _tell_reporter(report.reporter, action)
    return decision


def _carry_out(report: Report, staff: User, action: str, note: str) -> None:
    user, space = report.reported_user, report.space
    if action == Action.WARN:
        if user is None:
            raise ReportError("The reported account no longer exists.")
        text = f"A warning from the {settings.SITE_NAME} team: {report.get_reason_display().lower()}"
        if report.kind == Report.Kind.MESSAGE:
            text += " in a chat message"
        elif space is not None:
            text += f" in “{space.title}”"
        text += ". Please keep to the rules, or your account may be banned."
        Notification.objects.create(recipient=user, kind=Notification.Kind.WARNING, text=_fit(text))
        modlog.record(space, staff, modlog.Action.WARN, user, detail=report.get_reason_display(), as_staff=True)
    elif action == Action.DELETE_MESSAGE:
        if report.message is None:
            raise ReportError("The message no longer exists.")
        chat.delete_as_staff(report.message, staff)
    elif action == Action.END_SPACE:
        if space is None or not space.is_live:
            raise ReportError("The Space isn't live.")
        try:
            rooms.end_space(space, staff, by_staff=True)  # logged from rooms' space_ended (live.modlog)
        except rooms.RoomError as exc:
            raise ReportError(str(exc)) from None
    elif action == Action.BAN:
        if user is None:
            raise ReportError("The reported account no longer exists.")
        if user.is_staff:
            raise ReportError("Staff accounts can't be banned from a report.")
        if user.is_active:
            accounts.ban(user, by=staff)  # logged from accounts' user_banned (live.modlog)


def _tell_reporter(reporter: User, action: str) -> None:
    if action == Action.DISMISS:
        text = "We reviewed your report and didn't find a breach of our rules this time. Thank you for telling us."
    else:
        text = "Thank you for your report: we looked into it and took action."
    Notification.objects.create(recipient=reporter, kind=Notification.Kind.REPORT, text=_fit(text))


def _fit(text: str) -> str:
    return text if len(text) <= MAX_NOTICE else text[: MAX_NOTICE - 1] + "…"


# --- Context for staff ------------------------------------------------------------------------------------


def recent_messages(report: Report, limit: int = 20) -> list[ChatMessage]:
    """The reported person's latest chat messages in the Space (deleted ones included), newest first."""
    if report.space_id is None or report.reported_user_id is None:
        return []
    found = ChatMessage.objects.filter(space_id=report.space_id, user_id=report.reported_user_id)
    return list(found.select_related("deleted_by").order_by("-id")[:limit])


def earlier_reports(report: Report, limit: int = 20) -> list[Report]:
    """Other reports about the same person or Space, newest first."""
    others = Report.objects.exclude(pk=report.pk).select_related("reporter", "space", "reported_user")
    if report.reported_user_id is not None:
        others = others.filter(reported_user_id=report.reported_user_id)
    elif report.space_id is not None:
        others = others.filter(space_id=report.space_id)
    else:
        return []
    return list(others.prefetch_related("decisions")[:limit])
