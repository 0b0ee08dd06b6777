from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DistributionConfig(AppConfig):
    name = "distribution"
    verbose_name = _("Distribution")

    def ready(self) -> None:
        from distribution import (
            receivers,  # noqa: F401 - order, after-sales and login events
            verify,  # noqa: F401 - how the reconciliation's findings read
        )
