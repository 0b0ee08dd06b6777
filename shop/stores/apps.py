from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StoresConfig(AppConfig):
    name = "shop.stores"
    label = "stores"
    verbose_name = _("Pickup stores")

    def ready(self) -> None:
        from platform_core.features import register_usage
        from shop.stores.selectors import count_stores

        register_usage("stores", count_stores)
