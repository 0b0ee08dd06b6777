from django.apps import AppConfig


class PlatformCoreConfig(AppConfig):
    name = "platform_core"
    verbose_name = "Platform"
