from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "shop.payments"
    label = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from shop import events
        from shop.payments import receivers, reconcile  # noqa: F401 - reconcile: how its findings read

        events.connect_durable(events.order_cancelled, receivers.order_settled)
        events.connect_durable(events.order_paid, receivers.order_settled)
