from django.urls import path

from .consumers import RoomConsumer

websocket_urlpatterns = [
    path("ws/spaces/<int:space_id>/", RoomConsumer.as_asgi()),
]
