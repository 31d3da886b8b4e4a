from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rooms import pages

        from . import modlog, receivers  # noqa: F401  (connect the lifecycle, logout, ban and log receivers)
        from .views import RoomDoor

        pages.register_live_room(RoomDoor())
