from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogueConfig(AppConfig):
    name = "shop.catalogue"
    label = "catalogue"
    verbose_name = _("Catalogue")

    def ready(self) -> None:
        from platform_core.features import register_usage
        from shop.catalogue.selectors import count_products

        register_usage("products", count_products)
