from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AfterSalesConfig(AppConfig):
    name = "shop.aftersales"
    label = "aftersales"
    verbose_name = _("After-sales")

    def ready(self) -> None:
        from shop.aftersales import selectors
        from shop.orders import services as orders

        # the completion timer leaves an order with an open after-sale alone
        if selectors.without_open_aftersales not in orders.completion_filters:
            orders.completion_filters.append(selectors.without_open_aftersales)
