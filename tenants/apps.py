from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Shops")

    def ready(self) -> None:
        from django.db.models.signals import post_delete
        from django_tenants.signals import tenant_delete_callback

        from tenants import hosts
        from tenants.models import Tenant

        hosts.connect()
        # django-tenants listens to post_delete of *every* model (to drop a deleted shop's
        # schema; ours never do: auto_drop_schema is off). A listener on every model stops
        # Django from deleting by one DELETE: each delete() first SELECTs the rows to send
        # them the signal. Listen to shops only.
        post_delete.disconnect(tenant_delete_callback)
        post_delete.connect(tenant_delete_callback, sender=Tenant)
