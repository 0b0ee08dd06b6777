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
        if selectors.fulfilment_blocked not in orders.fulfilment_guards:
            orders.fulfilment_guards.append(selectors.fulfilment_blocked)
        from shop.payments import allocation

        # what open after-sales hold is not available to other refunds
        if selectors.claimed_by_line not in allocation.claim_sources:
            allocation.claim_sources.append(selectors.claimed_by_line)

        from shop import events
        from shop.aftersales import services

        def refunded(sender: object, order: object = None, refund: object = None, **kwargs: object) -> None:
            services.on_refund_succeeded(refund)  # type: ignore[arg-type]

        def failed(sender: object, refund: object = None, **kwargs: object) -> None:
            services.on_refund_failed(refund)  # type: ignore[arg-type]

        events.order_refunded.connect(refunded, dispatch_uid="aftersales-refund-succeeded", weak=False)
        events.refund_failed.connect(failed, dispatch_uid="aftersales-refund-failed", weak=False)
