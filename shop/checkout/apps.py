from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckoutConfig(AppConfig):
    name = "shop.checkout"
    label = "checkout"
    verbose_name = _("Cart and checkout")

    def ready(self) -> None:
        from platform_core.localcache import invalidate_on_change, of_current_shop
        from shop.checkout import receivers  # noqa: F401 - merges the guest cart at login
        from shop.checkout.models import ShippingTemplate

        invalidate_on_change(ShippingTemplate, of_current_shop)
