"""Merchant console pages for orders: list (filter by status, search by number),
detail with the actions the order allows (confirm an offline payment, ship with carrier
and tracking number, ready for pickup), and pickup verification by code."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _

from platform_core.scoping import ConsoleView
from shop.catalogue.console import parse_yuan
from shop.orders import services
from shop.orders.models import Order
from shop.payments import console as payments_console
from shop.payments import services as payments


class OrderList(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        orders = Order.objects.select_related("member").order_by("-created_at")
        status, q = request.GET.get("status", ""), request.GET.get("q", "").strip()
        if status in Order.Status.values:
            orders = orders.filter(status=status)
        if q:
            orders = orders.filter(number__startswith=q)
        return self.render(
            "orders/console/orders.html",
            {"orders": orders[:200], "status": status, "q": q, "statuses": Order.Status.choices},
        )


class OrderDetail(ConsoleView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order.objects.prefetch_related("lines", "log"), pk=pk)
        return self.render("orders/console/order.html", {"order": order, "errors": {}, "data": {}})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        action = request.POST.get("action")
        actor = f"staff:{request.user.pk}"
        try:
            if action == "mark_paid":
                amount = parse_yuan(request.POST.get("amount", ""))
                if amount is None:
                    raise ValidationError({"amount": [_("Enter the amount received, like 99.90.")]})
                payments.offline_confirm(order, amount=amount, actor=actor)
            elif action == "ship":
                services.order_ship(
                    order,
                    carrier=request.POST.get("carrier", ""),
                    tracking_number=request.POST.get("tracking_number", ""),
                    actor=actor,
                )
            elif action == "ready":
                services.order_ready_for_pickup(order, actor=actor)
            elif action in payments_console.ACTIONS:
                payments_console.handle(order, action, request.POST, actor)
            elif action == "cancel":
                services.order_cancel(
                    order, actor=actor, reason=request.POST.get("reason", "") or _("cancelled by the shop")
                )
            else:
                raise ValidationError({"action": [_("Unknown action.")]})
        except services.TransitionRefused:
            messages.error(
                request, _("Not possible while the order is %(status)s.") % {"status": order.get_status_display()}
            )
        except ValidationError as exc:
            order = Order.objects.prefetch_related("lines", "log").get(pk=pk)
            errors: dict[str, Any] = getattr(exc, "message_dict", {"action": exc.messages})
            return self.render(
                "orders/console/order.html", {"order": order, "errors": errors, "data": request.POST}, status=400
            )
        else:
            messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("orders-console:order", args=[pk]))


class PickupVerify(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render("orders/console/pickup.html", {"errors": {}})

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            order = services.order_verify_pickup(request.POST.get("code", ""), actor=f"staff:{request.user.pk}")
        except ValidationError as exc:
            return self.render(
                "orders/console/pickup.html",
                {"errors": exc.message_dict, "code": request.POST.get("code", "")},
                status=400,
            )
        messages.success(request, _("Order %(number)s picked up.") % {"number": order.number})
        return HttpResponseRedirect(reverse("orders-console:order", args=[order.pk]))
