"""The one base every view of shop data inherits (Django views and DRF views alike).

Shop data lives in the shop's own schema, so a query can only see the current shop's rows
as long as the connection is in that shop's schema. This base makes that a precondition
the view cannot skip: it refuses the platform host, and refuses to run if the connection
is not in the schema of the shop the request was routed to. ``tests/test_isolation.py``
walks every URL pattern and fails if a view does not inherit it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views import View
from django_tenants.utils import get_public_schema_name
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.views import APIView

from platform_core.tenancy import current_schema


def assert_in_shop(request: HttpRequest) -> Any:
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == get_public_schema_name():
        raise Http404("not a shop")
    if current_schema() != tenant.schema_name:
        raise RuntimeError(
            f"connection is in schema {current_schema()!r} but the request is for {tenant.schema_name!r}"
        )
    return tenant


class ShopScopedMixin:
    """Mix into any Django class-based view that reads or writes shop data."""

    shop_scoped = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.shop = assert_in_shop(request)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class ShopAPIView(APIView):
    """Base of every DRF view of shop data."""

    shop_scoped = True

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.shop = assert_in_shop(request._request)
        super().initial(request, *args, **kwargs)


class ShopViewSet(viewsets.GenericViewSet):
    shop_scoped = True

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.shop = assert_in_shop(request._request)
        super().initial(request, *args, **kwargs)


class ConsoleView(ShopScopedMixin, LoginRequiredMixin, UserPassesTestMixin, View):
    """Base of every merchant console page: shop host, logged in, console access."""

    owner_only = False

    def test_func(self) -> bool:
        user = self.request.user
        if not (user.is_authenticated and user.is_staff):  # type: ignore[union-attr]
            return False
        return not self.owner_only or bool(user.is_owner)  # type: ignore[union-attr]

    def render(self, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        return render(self.request, template, {"shop": self.shop, **context}, status=status)
