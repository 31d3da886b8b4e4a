"""The installable web app: its manifest, the service worker (served from the site root so that its scope
is the whole site) and the page it shows offline. docs/phones.md says what it caches and why.

The worker caches the shell only: static files and the offline page. Pages are fetched from the network
every time (a live room's page, the room's JSON and the websocket are never cached), and the offline page
stands in when the network is gone.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

BACKGROUND = "#0f1020"  # --bg in static/css/app.css
SHELL_FILES = [
    "css/app.css",
    "css/spaces.css",
    "css/room.css",
    "css/phone.css",
    "js/site.js",
    "js/times.js",
    "js/share.js",
    "js/pwa.js",
    "icons/favicon.svg",
    "icons/icon-192.png",
    "icons/badge-96.png",
]


@require_GET
@cache_control(max_age=3600)
def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: what a phone needs to install Spaces on its home screen."""
    data = {
        "id": "/",
        "name": settings.SITE_NAME,
        "short_name": settings.SITE_NAME[:12],
        "description": "Live audio rooms: drop in, listen, raise your hand.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": BACKGROUND,
        "theme_color": BACKGROUND,
        "categories": ["social", "music"],
        "icons": [
            {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": static("icons/maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
        "shortcuts": [
            {"name": "Start a Space", "url": reverse("rooms:new")},
            {"name": "Notifications", "url": reverse("rooms:notifications")},
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json", json_dumps_params={"indent": 1})


def _shell_urls() -> list[str]:
    return [reverse("pwa:offline"), reverse("pwa:manifest"), *(static(name) for name in SHELL_FILES)]


def _file_fingerprint(name: str) -> str:
    path = finders.find(name)
    if not path:
        return ""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


@lru_cache(maxsize=1)
def _release_version() -> str:
    # Static URLs carry content hashes in production (the manifest storage), so they name the release.
    return hashlib.sha256("\n".join(_shell_urls()).encode()).hexdigest()[:16]


def shell_version() -> str:
    """Changes whenever a cached shell file changes: the worker then installs afresh and drops old caches."""
    if not settings.DEBUG:
        return _release_version()
    # Development serves unhashed names: fingerprint the files themselves (cheap: a few small files).
    parts = [*_shell_urls(), *(_file_fingerprint(name) for name in SHELL_FILES)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker script, at /sw.js so that it may control every page of the site."""
    config = {
        "version": shell_version(),
        "shell": _shell_urls(),
        "offline": reverse("pwa:offline"),
        "static": settings.STATIC_URL,
        "icon": static("icons/icon-192.png"),
        "badge": static("icons/badge-96.png"),
        "renew": reverse("push:renew"),
    }
    response = render(
        request, "pwa/sw.js", {"config": json.dumps(config)}, content_type="text/javascript; charset=utf-8"
    )
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
@cache_control(no_cache=True)
def offline(request: HttpRequest) -> HttpResponse:
    """What the service worker shows for a page it can't fetch: the same for everyone (no user's data)."""
    return render(request, "pwa/offline.html")
