"""Reports end to end: filed through the site's endpoints, worked by staff in the admin queue, the reporter
told, the reported person never told who, every decision recorded."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Block
from live.models import ChatMessage, ModerationEntry
from reports.models import Decision, Report
from rooms.models import Notification, Space
from tests.live.roomkit import live_space

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def staff(make_user):
    return make_user("staffer", is_staff=True, is_superuser=True)


@pytest.fixture
def space(alice):
    return live_space(alice)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_space_report_from_the_form(space, bob):
    client = logged_in(bob)
    page = client.get(f"/spaces/{space.pk}/report/")
    assert page.status_code == 200 and "Report the Space “Morning Space”" in page.content.decode()
    response = client.post(f"/spaces/{space.pk}/report/", {"reason": "spam", "details": "Selling followers"})
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.kind, report.reporter, report.reported_user.handle, report.space, report.reason) == (
        "space",
        bob,
        "alice",
        space,
        "spam",
    )
    assert report.state == "open" and report.details == "Selling followers"


def test_a_person_report_from_the_room_can_block_in_the_same_step(space, bob, carol):
    response = logged_in(bob).post(
        "/u/carol/report/", {"reason": "harassment", "space": space.pk, "block": "on"}, **JSON
    )
    assert response.status_code == 200 and response.json()["ok"] is True
    report = Report.objects.get()
    assert (report.kind, report.reported_user, report.space) == ("person", carol, space)
    assert Block.objects.filter(blocker=bob, blocked=carol).exists()


def test_a_message_report_keeps_a_copy_of_the_message(space, bob, carol):
    message = ChatMessage.objects.create(space=space, user=carol, text="you're all idiots")
    response = logged_in(bob).post(f"/spaces/{space.pk}/chat/{message.pk}/report/", {"reason": "hate"}, **JSON)
    assert response.status_code == 200
    message.text = ""
    message.save()
    report = Report.objects.get()
    assert (report.kind, report.message_text, report.reported_user) == ("message", "you're all idiots", carol)


def test_refused_reports_say_why(space, alice, bob, carol, settings):
    client = logged_in(bob)
    assert client.post("/u/bob/report/", {"reason": "spam"}, **JSON).json() == {"error": "You can't report yourself."}
    assert client.post("/u/alice/report/", {"reason": "rude"}, **JSON).status_code == 400
    assert Client().post("/u/alice/report/", {"reason": "spam"}, **JSON).status_code == 403
    settings.SPACES_REPORTS_PER_HOUR = 2
    for reason in ("spam", "hate"):  # the same open report twice is one report, counted once
        assert client.post("/u/alice/report/", {"reason": reason}, **JSON).status_code == 200
    assert Report.objects.count() == 1
    assert client.post(f"/spaces/{space.pk}/report/", {"reason": "spam"}, **JSON).status_code == 200
    limited = client.post("/u/carol/report/", {"reason": "spam"}, **JSON)
    assert limited.status_code == 400 and "a lot of reports" in limited.json()["error"]


def test_the_reported_person_never_learns_who(space, alice, bob, staff):
    logged_in(bob).post(f"/spaces/{space.pk}/report/", {"reason": "hate"})
    admin = logged_in(staff)
    report = Report.objects.get()
    admin.post(f"/admin/reports/report/{report.pk}/decide/", {"action": "warn", "note": "first warning"})
    warning = Notification.objects.get(recipient=alice)
    assert warning.kind == "warning" and warning.actor is None
    assert "bob" not in warning.text and "Hate" not in warning.text and "hate" in warning.text
    page = logged_in(alice).get("/notifications/").content.decode()
    assert "warning from the Spaces team" in page and "@bob" not in page


def test_staff_work_the_queue_with_context(space, alice, bob, carol, staff):
    ChatMessage.objects.create(space=space, user=carol, text="first rude line")
    message = ChatMessage.objects.create(space=space, user=carol, text="second rude line")
    logged_in(alice).post("/u/carol/report/", {"reason": "spam"})
    logged_in(bob).post(f"/spaces/{space.pk}/chat/{message.pk}/report/", {"reason": "harassment"})
    admin = logged_in(staff)
    listing = admin.get("/admin/reports/report/?state__exact=open&reason__exact=harassment").content.decode()
    assert "message by @carol" in listing and "Harassment" in listing
    by_target = admin.get(f"/admin/reports/report/?reported_user__id__exact={carol.pk}")
    assert by_target.status_code == 200 and by_target.content.decode().count("@carol") >= 2
    report = Report.objects.get(kind="message")
    page = admin.get(f"/admin/reports/report/{report.pk}/change/").content.decode()
    for context in ("Morning Space", "first rude line", "second rude line", "Spam", "Record this decision"):
        assert context in page


def test_decisions_from_the_admin_actions_are_carried_out_and_recorded(space, alice, bob, carol, staff):
    message = ChatMessage.objects.create(space=space, user=carol, text="buy followers")
    client = logged_in(bob)
    client.post(f"/spaces/{space.pk}/chat/{message.pk}/report/", {"reason": "spam"})
    client.post(f"/spaces/{space.pk}/report/", {"reason": "violence"})
    message_report, space_report = Report.objects.get(kind="message"), Report.objects.get(kind="space")
    admin = logged_in(staff)

    def act(action: str, report: Report) -> None:
        response = admin.post("/admin/reports/report/", {"action": action, "_selected_action": [report.pk]})
        assert response.status_code == 302

    act("delete_message", message_report)
    message.refresh_from_db()
    assert message.text == "" and message.deleted_by_staff
    act("ban", message_report)
    carol.refresh_from_db()
    assert not carol.is_active
    act("end_space", space_report)
    assert Space.objects.get(pk=space.pk).state == "ended"

    assert list(Decision.objects.order_by("id").values_list("action", "staff__handle")) == [
        ("delete_message", "staffer"),
        ("ban", "staffer"),
        ("end_space", "staffer"),
    ]
    assert set(Report.objects.values_list("state", flat=True)) == {"actioned"}
    log = set(ModerationEntry.objects.values_list("action", "actor__handle", "as_staff"))
    assert {("delete_message", "staffer", True), ("ban", "staffer", True), ("end_space", "staffer", True)} <= log
    # The reporter hears once per report, however many decisions followed.
    told = Notification.objects.filter(recipient=bob, kind="report")
    assert told.count() == 2 and all("took action" in n.text for n in told)


def test_dismissing_tells_the_reporter_kindly(space, bob, staff):
    logged_in(bob).post(f"/spaces/{space.pk}/report/", {"reason": "other", "details": "Boring"})
    report = Report.objects.get()
    logged_in(staff).post(f"/admin/reports/report/{report.pk}/decide/", {"action": "dismiss"})
    report.refresh_from_db()
    assert report.state == "dismissed" and report.handled_at is not None
    assert "didn't find a breach" in Notification.objects.get(recipient=bob).text


def test_only_staff_reach_the_queue(space, bob):
    logged_in(bob).post(f"/spaces/{space.pk}/report/", {"reason": "spam"})
    report = Report.objects.get()
    response = logged_in(bob).post(f"/admin/reports/report/{report.pk}/decide/", {"action": "dismiss"})
    assert response.status_code == 302 and "/login" in response["Location"]
    assert Report.objects.get().state == "open"
