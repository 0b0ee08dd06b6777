from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "shop.marketing"
    label = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from shop.marketing import receivers  # noqa: F401 - coupons follow their order; coupons on registration
