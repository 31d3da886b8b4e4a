from django.urls import path

from . import views

app_name = "rooms"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("spaces/new/", views.new, name="new"),
    path("spaces/<int:space_id>/", views.detail, name="detail"),
    path("spaces/<int:space_id>/edit/", views.edit, name="edit"),
    path("spaces/<int:space_id>/start/", views.start, name="start"),
    path("spaces/<int:space_id>/end/", views.end, name="end"),
    path("spaces/<int:space_id>/cancel/", views.cancel, name="cancel"),
    path("spaces/<int:space_id>/remind/", views.remind, name="remind"),
    path("spaces/<int:space_id>/calendar.ics", views.calendar, name="calendar"),
    path("topics/<slug:slug>/", views.topic, name="topic"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.mark_read, name="mark_read"),
    path("notifications/<int:notification_id>/", views.open_notification, name="open_notification"),
]
