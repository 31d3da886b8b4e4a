from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The project itself as an app: commands that span every app (demo data) live here."""

    name = "spaces_site"
    verbose_name = "Spaces site"
