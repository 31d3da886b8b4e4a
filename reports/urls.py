"""Reports: include with `path("", include("reports.urls"))` in spaces_site/urls.py."""

from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("spaces/<int:space_id>/report/", views.report_space, name="space"),
    path("spaces/<int:space_id>/chat/<int:message_id>/report/", views.report_message, name="message"),
    path("u/<str:handle>/report/", views.report_person, name="person"),
]
