"""The report queue: staff filter reports, read their context, and decide from the report's page or the list.

Every decision goes through reports.services.decide (recorded, the reporter told once). A report's page
shows the Space, the reported person's latest chat messages there, earlier reports about them, and the
decisions so far, with a form for the next one.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from . import services
from .models import Decision, Report

Action = Decision.Action


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    fields = ("created_at", "staff", "action", "note")
    readonly_fields = ("created_at", "staff", "action", "note")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "state", "reason", "kind", "target", "space", "reporter"]
    list_filter = ["state", "reason", "kind"]
    list_select_related = ["space", "reported_user", "reporter"]
    search_fields = ["reported_user__handle", "space__title", "reporter__handle", "details", "message_text"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    inlines = [DecisionInline]
    change_form_template = "reports/admin/change_form.html"
    actions = ["dismiss", "warn", "delete_message", "end_space", "ban"]
    # A report is evidence: staff decide about it, they don't edit it.
    readonly_fields = [
        "kind", "reporter", "space", "reported_user", "message", "message_text", "reason", "details", "state",
        "created_at", "handled_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # "Filter by target": the target column links to the reports about that person or Space.
        if lookup in ("reported_user__id__exact", "space__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="target")
    def target(self, report: Report) -> str:
        if report.reported_user_id is not None and report.kind != Report.Kind.SPACE:
            query = f"reported_user__id__exact={report.reported_user_id}"
        else:
            query = f"space__id__exact={report.space_id}"
        url = reverse("admin:reports_report_changelist") + "?" + query
        return format_html('<a href="{}" title="Every report about this">{}</a>', url, report.target_label)

    # --- the report's page: context and the decision form ----------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        report = get_object_or_404(Report.objects.select_related("space", "reported_user", "message"), pk=object_id)
        context = {
            **(extra_context or {}),
            # Nothing on the report itself is edited: the decision form below is the page's only action.
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
            "report": report,
            "recent_messages": services.recent_messages(report),
            "earlier_reports": services.earlier_reports(report),
            "decisions": Action.choices,
            "decide_url": reverse("admin:reports_report_decide", args=[report.pk]),
            "space_admin_url": reverse("admin:rooms_space_change", args=[report.space_id]) if report.space_id else None,
        }
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list:
        decide = self.admin_site.admin_view(require_POST(self.decide_view))
        return [path("<int:report_id>/decide/", decide, name="reports_report_decide"), *super().get_urls()]

    def decide_view(self, request: HttpRequest, report_id: int) -> HttpResponse:
        if not self.has_change_permission(request) or not request.user.is_staff:
            raise PermissionDenied
        report = get_object_or_404(Report, pk=report_id)
        self._decide(request, [report], request.POST.get("action", ""), request.POST.get("note", ""))
        return HttpResponseRedirect(reverse("admin:reports_report_change", args=[report.pk]))

    # --- bulk, from the list -----------------------------------------------------------------------------

    def _decide(self, request: HttpRequest, reports, action: str, note: str = "") -> None:
        done, refused = 0, []
        for report in reports:
            try:
                services.decide(report, request.user, action, note)  # type: ignore[arg-type]
            except services.ReportError as exc:
                refused.append(f"Report #{report.pk}: {exc}")
            else:
                done += 1
        if done:
            label = dict(Action.choices).get(action, action)
            self.message_user(request, f"{label}: {done} report{'s' if done != 1 else ''}.", messages.SUCCESS)
        for refusal in refused:
            self.message_user(request, refusal, messages.WARNING)

    @admin.action(description="Dismiss (no breach found)", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._decide(request, queryset, Action.DISMISS)

    @admin.action(description="Warn the reported person (an in-app notice)", permissions=["change"])
    def warn(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._decide(request, queryset, Action.WARN)

    @admin.action(description="Delete the reported chat message", permissions=["change"])
    def delete_message(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._decide(request, queryset, Action.DELETE_MESSAGE)

    @admin.action(description="End the Space (live Spaces)", permissions=["change"])
    def end_space(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._decide(request, queryset, Action.END_SPACE)

    @admin.action(description="Ban the reported account", permissions=["change"])
    def ban(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._decide(request, queryset, Action.BAN)
