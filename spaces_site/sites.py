"""The Sites framework's one record follows settings.SITE_DOMAIN / SITE_NAME.

allauth names the site in its mail ("[Spaces] Please Confirm Your Email Address") and builds links from
the Sites record, which Django creates as "example.com". Every `migrate` (each deploy, each test
database) writes the configured values, so changing the environment and migrating is all it takes.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.apps import apps as installed_apps
from django.apps.registry import Apps
from django.conf import settings
from django.contrib.sites.models import SITE_CACHE
from django.db import DEFAULT_DB_ALIAS


def sync_site(sender: AppConfig, apps: Apps | None = None, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate receiver: create or update Site SITE_ID with the configured domain and name. (A test
    database flush sends post_migrate without `apps`: the installed models serve then.)"""
    Site = (apps or installed_apps).get_model("sites", "Site")
    Site.objects.using(using).update_or_create(
        pk=settings.SITE_ID, defaults={"domain": settings.SITE_DOMAIN, "name": settings.SITE_NAME}
    )
    SITE_CACHE.clear()  # the framework caches the current site per process
