from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Shops")

    def ready(self) -> None:
        from tenants import hosts

        hosts.connect()
