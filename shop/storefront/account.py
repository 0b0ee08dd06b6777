"""Storefront pages of the member's own business with the shop: orders and their
payment, after-sales requests, the distributor centre (shop host, ``/account/``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from shop.aftersales import selectors as aftersale_selectors
from shop.aftersales import services as aftersale_services
from shop.members.auth import MemberRequiredMixin
from shop.members.views import form_errors
from shop.orders import services as order_services
from shop.orders.models import Order
from shop.payments import services as payment_services
from shop.storefront import drops
from shop.storefront.views import PAGE_SIZE, StorefrontPage, _int, _share_origin


class MemberStorefrontPage(MemberRequiredMixin, StorefrontPage):
    def order(self, pk: int) -> Order:
        return get_object_or_404(Order.objects.prefetch_related("lines", "log"), pk=pk, member=self.member)


class OrderList(MemberStorefrontPage):
    FILTERS = ("unpaid", "paid", "shipped", "completed", "cancelled")

    def get(self, request: HttpRequest) -> HttpResponse:
        orders = Order.objects.filter(member=self.member).prefetch_related("lines").order_by("-created_at")
        wanted = request.GET.get("status", "")
        if wanted in self.FILTERS:
            orders = orders.filter(status=wanted)
        page = Paginator(orders, PAGE_SIZE).get_page(_int(request.GET.get("page")) or 1)
        return self.page(
            "templates/orders",
            {
                "orders": [drops.order_data(o) for o in page.object_list],
                "status": wanted,
                "filters": [{"key": k, "label": drops.ORDER_FILTER_LABELS[k]()} for k in self.FILTERS],
                "paginate": {"page": page.number, "pages": page.paginator.num_pages},
            },
        )


class OrderDetail(MemberStorefrontPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        aftersales = aftersale_selectors.for_member(self.member).filter(order=order)
        return self.page(
            "templates/order",
            {
                "order": drops.order_data(order, with_log=True),
                "aftersales": [drops.aftersale_data(a) for a in aftersales],
            },
        )


class OrderAction(MemberStorefrontPage):
    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        order = self.order(pk)
        actor = f"member:{self.member.pk}"
        try:
            if action == "cancel":
                order_services.order_cancel(order, actor=actor, reason="cancelled by the buyer")
            elif action == "confirm":
                order_services.order_confirm_delivery(order, actor=actor)
            else:
                raise Http404
        except order_services.TransitionRefused:
            return self.page(
                "templates/order",
                {
                    "order": drops.order_data(self.order(pk), with_log=True),
                    "aftersales": [],
                    "errors": {"general": [_("This order has moved on; nothing was changed.")]},
                },
                status=409,
            )
        return HttpResponseRedirect(f"/account/orders/{pk}/")


class PayPage(MemberStorefrontPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        if order.status != Order.Status.UNPAID:
            return HttpResponseRedirect(f"/account/orders/{pk}/")
        return self.page(
            "templates/payment", {"order": drops.order_data(order), "methods": drops.payment_methods(order)}
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        provider = request.POST.get("provider", "")
        try:
            started = payment_services.payment_start(order, provider, actor=f"member:{self.member.pk}")
        except ValidationError as exc:
            if order.status != Order.Status.UNPAID:
                return HttpResponseRedirect(f"/account/orders/{pk}/")
            return self.page(
                "templates/payment",
                {
                    "order": drops.order_data(order),
                    "methods": drops.payment_methods(order),
                    "errors": drops.errors_data(form_errors(exc)),
                },
                status=400,
            )
        except payment_services.PaymentError as exc:
            return self.page(
                "templates/payment",
                {
                    "order": drops.order_data(order),
                    "methods": drops.payment_methods(order),
                    "errors": {"general": [str(exc.message)]},
                },
                status=503,
            )
        if started.get("provider") == "balance":  # paid there and then
            return HttpResponseRedirect(f"/account/orders/{pk}/")
        return self.page(
            "templates/payment",
            {
                "order": drops.order_data(order),
                "methods": drops.payment_methods(order),
                "started": drops.started_payment(started),
            },
        )


class AfterSaleNew(MemberStorefrontPage):
    def _context(self, order: Order, data: dict[str, Any]) -> dict[str, Any]:
        from shop.payments import allocation

        found = allocation.refundable(order)
        lines = []
        for left in found.lines.values():
            lines.append(
                {
                    "id": left.line.pk,
                    "name": left.line.product_name,
                    "label": left.line.sku_label,
                    "left": left.units,
                    "amount_paid": left.line.amount_paid,
                    "refundable": left.amount,
                }
            )
        return {
            "order": drops.order_data(order),
            "lines": lines,
            "reasons": [{"id": r.pk, "name": r.name} for r in aftersale_selectors.reasons(active_only=True)],
            "shipped": order.status in ("shipped", "delivered", "picked_up", "completed"),
            "data": {k: v for k, v in data.items() if isinstance(v, str)},
        }

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page("templates/aftersale-new", self._context(self.order(pk), {}))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        wanted = []
        for line in order.lines.all():
            quantity = _int(request.POST.get(f"line_{line.pk}", "0")) or 0
            if quantity:
                wanted.append({"line": line.pk, "quantity": quantity})
        data = {
            "kind": request.POST.get("kind", ""),
            "reason": request.POST.get("reason", ""),
            "note": request.POST.get("note", ""),
            "lines": wanted,
        }
        try:
            aftersale = aftersale_services.aftersale_request(self.member, order, data)
        except ValidationError as exc:
            context = self._context(order, {k: request.POST.get(k, "") for k in ("kind", "reason", "note")})
            context["errors"] = drops.errors_data(form_errors(exc))
            return self.page("templates/aftersale-new", context, status=400)
        return HttpResponseRedirect(f"/account/aftersales/{aftersale.pk}/")


class AfterSaleList(MemberStorefrontPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        rows = aftersale_selectors.for_member(self.member).prefetch_related("lines__order_line")[:100]
        return self.page("templates/aftersales", {"aftersales": [drops.aftersale_data(a) for a in rows]})


class AfterSaleDetail(MemberStorefrontPage):
    def aftersale(self, pk: int) -> Any:
        return get_object_or_404(
            aftersale_selectors.for_member(self.member).prefetch_related("lines__order_line"), pk=pk
        )

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page("templates/aftersale", {"aftersale": drops.aftersale_data(self.aftersale(pk))})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        aftersale = self.aftersale(pk)
        try:
            if request.POST.get("action") == "cancel":
                aftersale_services.aftersale_cancel(aftersale, member=self.member)
            else:
                aftersale_services.aftersale_ship_return(
                    aftersale,
                    member=self.member,
                    carrier=request.POST.get("carrier", ""),
                    tracking_number=request.POST.get("tracking_number", ""),
                )
        except ValidationError as exc:
            return self.page(
                "templates/aftersale",
                {
                    "aftersale": drops.aftersale_data(self.aftersale(pk)),
                    "errors": drops.errors_data(form_errors(exc)),
                    "data": {k: request.POST.get(k, "") for k in ("carrier", "tracking_number")},
                },
                status=400,
            )
        return HttpResponseRedirect(f"/account/aftersales/{pk}/")


class DistributorCentre(MemberStorefrontPage):
    """The distributor centre; its forms (apply, withdraw) post to the distribution
    engine's storefront views, which answer bad input on this same page
    (``centre_page``)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.centre_page({})

    def centre_page(self, extra: dict[str, Any], status: int = 200) -> HttpResponse:
        summary = drops.distributor_summary(self.member, **_share_origin(self.request))
        return self.page("templates/distributor", {"distributor": summary, **extra}, status=status)
