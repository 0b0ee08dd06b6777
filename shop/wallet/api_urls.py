"""Shop balance API, mounted at ``/api/v1/wallet/`` on shop hosts."""

from django.urls import URLPattern, URLResolver, path

from shop.wallet import api

app_name = "wallet-api"
urlpatterns: list[URLPattern | URLResolver] = [path("", api.WalletAPI.as_view(), name="wallet")]
