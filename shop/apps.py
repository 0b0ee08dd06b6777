from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = _("Shop")

    def ready(self) -> None:
        from platform_core.features import register_usage
        from platform_core.localcache import invalidate_on_change, of_current_shop
        from shop.models import ShopSettings
        from shop.staff import count_staff_seats

        register_usage("staff_seats", count_staff_seats)
        invalidate_on_change(ShopSettings, of_current_shop)
