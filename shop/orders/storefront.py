"""The member's purchase history on the storefront (``/account/orders/``). Pages of the
storefront move onto the theme layer with the themes work; the data they show stays here."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views import View

from shop.members.auth import MemberRequiredMixin
from shop.orders.models import Order


class MemberOrderPage(MemberRequiredMixin, View):
    def page(self, template: str, context: dict[str, Any]) -> HttpResponse:
        return render(self.request, template, {"shop": self.shop, "member": self.member, **context})


class OrderHistory(MemberOrderPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        orders = Order.objects.filter(member=self.member).prefetch_related("lines").order_by("-created_at")[:100]
        return self.page("orders/storefront/orders.html", {"orders": orders})


class OrderDetailPage(MemberOrderPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order.objects.prefetch_related("lines", "log"), pk=pk, member=self.member)
        return self.page("orders/storefront/order.html", {"order": order})
