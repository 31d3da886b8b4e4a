from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from . import pwa
from .health import healthz
from .metrics import metrics

# Staff log in through allauth's login page, like everyone else, so its failed-login limits (kept in the
# cache: Redis in production) guard the admin too. /admin/login/ only redirects there; it checks no password.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

# The installable web app (spaces_site/pwa.py): the service worker must sit at the root to control every page.
pwa_patterns = [
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("offline/", pwa.offline, name="offline"),
]

urlpatterns = [
    path("", include((pwa_patterns, "pwa"))),
    path("", include("push.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("payments.urls")),
    path("", include("live.urls")),
    path("", include("reports.urls")),
    path("", include("recordings.urls")),
    path("", include("rooms.urls")),
]
