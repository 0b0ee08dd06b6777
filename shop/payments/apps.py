from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "shop.payments"
    label = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from shop import events
        from shop.payments import receivers, reconcile  # noqa: F401 - reconcile: how its findings read

        events.order_cancelled.connect(receivers.order_settled, dispatch_uid="payments.order_cancelled")
        events.order_paid.connect(receivers.order_settled, dispatch_uid="payments.order_paid")
