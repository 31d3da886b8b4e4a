"""URLs of the live room: include with `path("", include("rooms.live_urls"))` in spaces_site/urls.py."""

from django.urls import path

from . import live_views

app_name = "room"

urlpatterns = [
    path("spaces/<int:space_id>/room/", live_views.room, name="page"),
    path("spaces/<int:space_id>/room/<slug:action>/", live_views.room_action, name="action"),
]
