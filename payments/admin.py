from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from . import stripe as stripe_api
from .models import BoxOffice, Ticket, WebhookEvent


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "space", "buyer", "state", "gross", "fee", "net", "payout", "created_at", "paid_at"]
    list_filter = [
        "state",
        "refund_reason",
        "currency",
        ("destination_account", admin.EmptyFieldListFilter),
        "created_at",
        "paid_at",
    ]
    search_fields = [
        "buyer__handle",
        "buyer__email",
        "space__title",
        "checkout_session_id",
        "payment_intent_id",
        "refund_id",
    ]
    list_select_related = ["space", "buyer"]
    raw_id_fields = ["space", "buyer"]
    date_hierarchy = "created_at"
    actions = ["refund"]
    # The ledger is written by Stripe's word only; staff act through the refund action.
    readonly_fields = [f.name for f in Ticket._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return False

    @admin.display(description="Gross")
    def gross(self, ticket: Ticket) -> str:
        return services.format_money(ticket.amount, ticket.currency)

    @admin.display(description="Fee")
    def fee(self, ticket: Ticket) -> str:
        return services.format_money(ticket.fee_amount, ticket.currency)

    @admin.display(description="Net")
    def net(self, ticket: Ticket) -> str:
        return services.format_money(ticket.net_amount, ticket.currency)

    @admin.display(description="Paid out")
    def payout(self, ticket: Ticket) -> str:
        return f"by Stripe to {ticket.destination_account}" if ticket.destination_account else "owed by platform"

    @admin.action(description="Refund selected paid tickets")
    def refund(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        done = 0
        for ticket in queryset:
            try:
                ticket = services.staff_refund(ticket)
            except services.TicketError as e:
                self.message_user(request, f"Ticket {ticket.pk}: {e}", messages.ERROR)
                continue
            except (stripe_api.StripeRefused, stripe_api.StripeUnavailable) as e:
                # The refund is decided and recorded; its job keeps trying.
                self.message_user(request, f"Ticket {ticket.pk}: refund requested; Stripe said: {e}", messages.WARNING)
                continue
            done += ticket.state == Ticket.State.REFUNDED
        if done:
            self.message_user(request, f"Refunded {done} ticket(s).", messages.SUCCESS)


@admin.register(BoxOffice)
class BoxOfficeAdmin(admin.ModelAdmin):
    """Read-only: the host sets prices through the ticket settings page (payments.services)."""

    list_display = ["space", "price_shown", "capacity"]
    search_fields = ["space__title"]
    list_select_related = ["space"]
    readonly_fields = ["space", "price", "currency", "capacity"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BoxOffice | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BoxOffice | None = None) -> bool:
        return False

    @admin.display(description="Price")
    def price_shown(self, office: BoxOffice) -> str:
        return services.format_money(office.price, office.currency)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["stripe_id", "type", "received_at", "processed_at", "attempts", "has_error"]
    list_filter = ["type", ("processed_at", admin.EmptyFieldListFilter), ("error", admin.EmptyFieldListFilter)]
    search_fields = ["stripe_id", "type", "error"]
    date_hierarchy = "received_at"
    readonly_fields = ["stripe_id", "type", "payload", "received_at", "claimed_at", "processed_at", "attempts", "error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False

    @admin.display(boolean=True, description="Error")
    def has_error(self, event: WebhookEvent) -> bool:
        return bool(event.error)
