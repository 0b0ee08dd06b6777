from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "platform_core.accounts"
    label = "accounts"
    verbose_name = "Accounts"
