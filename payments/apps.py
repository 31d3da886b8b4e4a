from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # rooms sends space_cancelled without knowing payments exists; refunds hang off it here, inside the
        # cancel's transaction, so the refund decisions commit with the cancel.
        from rooms.signals import space_cancelled

        from .services import on_space_cancelled

        def refund_tickets(sender, space, **kwargs) -> None:
            on_space_cancelled(space)

        space_cancelled.connect(refund_tickets, dispatch_uid="payments.refund_cancelled_space", weak=False)
