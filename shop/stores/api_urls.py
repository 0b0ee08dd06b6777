"""Storefront stores API, mounted at ``/api/v1/stores/`` on shop hosts (the console's is
registered on the shop's API router as ``console/stores``)."""

from django.urls import URLPattern, URLResolver, path

from shop.stores import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("", api.StorefrontStores.as_view({"get": "list"}), name="stores-list"),
]
