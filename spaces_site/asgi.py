"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from live.routing import websocket_urlpatterns  # noqa: E402
from recordings.routing import http_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Long-lived HTTP streams (listen.ogg) first, as bare ASGI apps; everything else is Django's.
        # (Channels' URLRouter takes ASGI apps; django-stubs types re_path for Django views only.)
        "http": URLRouter([*http_urlpatterns, re_path(r"", django_asgi_app)]),  # type: ignore[arg-type]
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
