"""HTTP routes served outside Django's request handling (see recordings.listen); spaces_site/asgi.py puts
them ahead of Django's own."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from .listen import listen_ogg

http_urlpatterns = [
    path("spaces/<int:space_id>/listen.ogg", AuthMiddlewareStack(listen_ogg)),
]
