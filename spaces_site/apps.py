from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class SiteConfig(AppConfig):
    """The project itself as an app: commands that span every app (demo data) live here."""

    name = "spaces_site"
    verbose_name = "Spaces site"

    def ready(self) -> None:
        from .sites import sync_site

        # post_migrate is sent per app with models, so listen for the sites app's (this one has none).
        post_migrate.connect(sync_site, sender=apps.get_app_config("sites"), dispatch_uid="spaces_site.sync_site")
