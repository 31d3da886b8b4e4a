"""URLs of the live room: include with `path("", include("live.urls"))` in spaces_site/urls.py."""

from django.urls import path

from . import views

app_name = "room"

urlpatterns = [
    path("spaces/<int:space_id>/room/", views.room, name="page"),
    path("spaces/<int:space_id>/room/audience/", views.audience, name="audience"),
    path("spaces/<int:space_id>/room/chat/", views.chat_history, name="chat"),
    path("spaces/<int:space_id>/room/log/", views.moderation_log, name="log"),
    path("spaces/<int:space_id>/room/<slug:action>/", views.room_action, name="action"),
]
