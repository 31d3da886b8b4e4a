from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from rooms.access import can_view
from rooms.models import Space

from . import services, webhooks
from . import stripe as stripe_api
from .forms import TicketingForm
from .models import Ticket


def _visible_space(request: HttpRequest, space_id: int) -> Space:
    space = get_object_or_404(Space.objects.select_related("host"), pk=space_id)
    if not can_view(space, request.user):
        raise Http404
    return space


def _hosted_space(request: HttpRequest, space_id: int) -> Space:
    space = get_object_or_404(Space, pk=space_id)
    if space.host_id != request.user.pk:
        raise Http404
    return space


def tickets(request: HttpRequest, space_id: int) -> HttpResponse:
    """A ticketed Space's box office: the price, seats left, your ticket, a Buy button."""
    space = _visible_space(request, space_id)
    office = services.box_office_of(space)
    if not space.is_ticketed or office is None:
        return redirect(space)
    return render(
        request,
        "payments/tickets.html",
        {
            "space": space,
            "office": office,
            "ticket": services.current_ticket(space, request.user),
            "seats_left": services.seats_left(space),
            "enabled": services.ticketing_enabled(),
            "test_mode": services.ticketing_enabled() and stripe_api.is_test_mode(),
        },
    )


@require_POST
@login_required
def buy(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    # The price comes from the database inside start_checkout; nothing in the POST body is read.
    space = _visible_space(request, space_id)
    success_url = request.build_absolute_uri(reverse("payments:success", args=[space.pk]))
    cancel_url = request.build_absolute_uri(reverse("payments:cancelled", args=[space.pk]))
    try:
        checkout_url = services.start_checkout(
            space, request.user, success_url=success_url + "?session_id={CHECKOUT_SESSION_ID}", cancel_url=cancel_url
        )
    except services.TicketError as e:
        messages.error(request, str(e))
        return redirect("payments:tickets", space.pk)
    except stripe_api.StripeUnavailable:
        messages.error(request, "Payments are unavailable right now. Please try again in a minute.")
        return redirect("payments:tickets", space.pk)
    response = redirect(checkout_url)
    response.status_code = 303  # See Other: the browser follows with a GET
    return response


@login_required
def success(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    """Where Checkout sends the buyer back. It shows the ticket; Stripe's word, not this URL, decides it."""
    space = _visible_space(request, space_id)
    ticket = services.current_ticket(space, request.user)
    session_id = request.GET.get("session_id", "")
    if ticket and session_id and ticket.checkout_session_id == session_id and ticket.state == Ticket.State.RESERVED:
        # The webhook may not have arrived yet: ask Stripe directly, through the same fulfilment. This GET
        # changes nothing the request chooses: it applies Stripe's word, as the webhook would, once.
        try:
            ticket = services.refresh_from_stripe(session_id) or ticket
        except (stripe_api.StripeUnavailable, stripe_api.StripeRefused, services.FulfilmentMismatch):
            pass  # the webhook will settle it; the page shows what we know
    return render(request, "payments/success.html", {"space": space, "ticket": ticket})


@login_required
def cancelled(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    """Where Checkout's cancel link lands (a GET, so it changes nothing): go back to checkout, or give the
    seat back with a POST to `release`. Left alone, the reservation expires with the Checkout Session."""
    space = _visible_space(request, space_id)
    ticket = services.current_ticket(space, request.user)
    return render(request, "payments/cancelled.html", {"space": space, "ticket": ticket})


@require_POST
@login_required
def release(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    """The buyer gives up their own unpaid seat at once rather than when the checkout expires."""
    space = _visible_space(request, space_id)
    ticket = services.current_ticket(space, request.user)
    if ticket and ticket.state == Ticket.State.RESERVED:
        try:
            ticket = services.abandon_checkout(ticket)
        except stripe_api.StripeUnavailable:
            messages.error(request, "Payments are unavailable right now: your seat is released when checkout expires.")
            return redirect("payments:tickets", space.pk)
    if ticket and ticket.state == Ticket.State.PAID:
        messages.info(request, "Your payment went through: you have a ticket.")
    else:
        messages.info(request, "Checkout cancelled: you were not charged.")
    return redirect("payments:tickets", space.pk)


@login_required
def ticketing(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    """The host's ticket settings: price and number of tickets on a scheduled Space."""
    space = _hosted_space(request, space_id)
    office = services.box_office_of(space)
    initial = {}
    if office is not None:
        initial = {"price": services.from_minor_units(office.price, office.currency), "capacity": office.capacity}
    form = TicketingForm(request.POST or None, initial=initial, currency=office.currency if office else None)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "disable":
                services.disable_ticketing(space, request.user)
                messages.success(request, "This Space is free to join again.")
                return redirect(space)
            if form.is_valid():
                services.configure_ticketing(
                    space, request.user, price=form.price_minor, capacity=form.cleaned_data["capacity"]
                )
                messages.success(request, "Tickets saved.")
                return redirect("payments:sales", space.pk)
        except services.TicketError as e:
            form.add_error(None, str(e))
    return render(
        request,
        "payments/settings.html",
        {
            "space": space,
            "form": form,
            "enabled": services.ticketing_enabled(),
            "has_sales": office is not None and services.has_sales(space),
            "fee_percent": settings.SPACES_PLATFORM_FEE_PERCENT,
        },
    )


@login_required
def sales(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    space = _hosted_space(request, space_id)
    return render(
        request,
        "payments/sales.html",
        {
            "space": space,
            "summary": services.sales_summary(space),
            "tickets": space.tickets.select_related("buyer").order_by("-created_at")[:200],
        },
    )


@csrf_exempt  # Stripe can't send a CSRF token; the signature check below is the authentication
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = stripe_api.verify_webhook(request.body, request.headers.get("Stripe-Signature", ""))
    except stripe_api.InvalidSignature:
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    outcome = webhooks.receive(event)
    status = {webhooks.Outcome.RETRY: 503, webhooks.Outcome.MALFORMED: 400}.get(outcome, 200)
    return HttpResponse(outcome.value, status=status, content_type="text/plain")
