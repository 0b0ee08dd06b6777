from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        from billing.services import account_for
        from tenants.signals import shop_created

        def open_account(sender: object, tenant: object, **kwargs: object) -> None:
            account_for(tenant)  # type: ignore[arg-type]

        shop_created.connect(open_account, dispatch_uid="billing-open-account", weak=False)
