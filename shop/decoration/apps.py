from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DecorationConfig(AppConfig):
    name = "shop.decoration"
    label = "decoration"
    verbose_name = _("Page decoration")
