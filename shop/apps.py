from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = _("Shop")

    def ready(self) -> None:
        from platform_core.features import register_usage
        from shop.staff import count_staff_seats

        register_usage("staff_seats", count_staff_seats)
