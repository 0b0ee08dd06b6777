from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "shop.members"
    label = "members"
    verbose_name = _("Members")

    def ready(self) -> None:
        from shop.members import schema  # noqa: F401  (registers the OpenAPI auth extension)
