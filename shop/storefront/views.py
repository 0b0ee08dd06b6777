"""Storefront (shop host, ``/``). The catalogue and themes arrive with later issues; for now
the home page greets shoppers with the shop's name."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from platform_core.scoping import ShopScopedMixin


class StorefrontHome(ShopScopedMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "shop/storefront/home.html", {"shop": self.shop})
