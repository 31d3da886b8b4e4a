from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Media engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from live import media_port

        from . import client

        media_port.register(client)
