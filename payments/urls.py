from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("spaces/<int:space_id>/tickets/", views.tickets, name="tickets"),
    path("spaces/<int:space_id>/tickets/buy/", views.buy, name="buy"),
    path("spaces/<int:space_id>/tickets/success/", views.success, name="success"),
    path("spaces/<int:space_id>/tickets/cancelled/", views.cancelled, name="cancelled"),
    path("spaces/<int:space_id>/tickets/release/", views.release, name="release"),
    path("spaces/<int:space_id>/tickets/settings/", views.ticketing, name="settings"),
    path("spaces/<int:space_id>/tickets/sales/", views.sales, name="sales"),
    path("payments/stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
