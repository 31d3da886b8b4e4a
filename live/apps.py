from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rooms import pages

        from . import receivers  # noqa: F401  (connects the lifecycle, logout and ban receivers)
        from .views import RoomDoor

        pages.register_live_room(RoomDoor())
