from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Media engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from live import media_port

        from . import client, compat

        # Refuse to start (Daphne, runmedia, any manage.py command) when aiortc, aioice, pylibsrtp or
        # Python changed what the fast path reaches into: fail here, loudly, not on the first call.
        compat.verify()
        media_port.register(client)
