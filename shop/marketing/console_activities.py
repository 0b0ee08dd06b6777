"""Merchant console pages for flash sales and group buying: a page each listing the
sessions / deals with their results and an End button, with a form to create one (one SKU
per form; several SKUs through the console API), and a deal's groups."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.features import require_feature
from platform_core.scoping import ConsoleView
from shop.catalogue.console import parse_yuan, whole_number
from shop.catalogue.models import Product, Sku
from shop.marketing import flash, groups
from shop.marketing.console import _local
from shop.marketing.models import FlashSession, GroupDeal, MarketingSettings


def _skus() -> Any:
    return (
        Sku.objects.filter(is_active=True, product__status=Product.Status.ON_SALE)
        .select_related("product")
        .order_by("product__name", "id")[:500]
    )


def _whole(raw: str) -> int | None:
    raw = (raw or "").strip()
    return whole_number(raw) if raw else None


class FlashSales(ConsoleView):
    fields = ("name", "starts_at", "ends_at", "sku", "price", "stock", "per_member_limit")

    def page(self, data: dict[str, str], errors: dict[str, list[str]], status: int = 200) -> HttpResponse:
        now = timezone.now()
        sessions = FlashSession.objects.prefetch_related("items__sku__product").order_by("-starts_at", "-id")[:100]
        return self.render(
            "marketing/console/flash_sales.html",
            {
                "rows": [{**flash.session_row(s, now), "results": flash.session_results(s)} for s in sessions],
                "skus": _skus(),
                "data": data,
                "problems": sorted(errors.items()),  # (an "items" key would shadow dict.items in a template)
                "pay_minutes": MarketingSettings.current().flash_pay_minutes,
            },
            status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        require_feature(self.shop, "flash_sales")
        return self.page({}, {})

    def post(self, request: HttpRequest) -> HttpResponse:
        require_feature(self.shop, "flash_sales")
        data = {k: request.POST.get(k, "") for k in self.fields}
        errors: dict[str, list[str]] = {}
        price = parse_yuan(data["price"]) if data["price"].strip() else None
        if price is None:
            errors["price"] = [_("Enter an amount like 99.90.")]
        limit = _whole(data["per_member_limit"])
        item: dict[str, Any] = {
            "sku": whole_number(data["sku"], 2**31 - 1),
            "price": price,
            "stock": _whole(data["stock"]),
        }
        if limit is not None:
            item["per_member_limit"] = limit
        if not errors:
            try:
                flash.session_create(
                    {
                        "name": data["name"],
                        "starts_at": _local(data["starts_at"]),
                        "ends_at": _local(data["ends_at"]),
                        "items": [item],
                    }
                )
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                messages.success(request, _("Saved."))
                return HttpResponseRedirect(reverse("marketing-console:flash-sales"))
        return self.page(data, errors, 400)


class FlashEnd(ConsoleView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = get_object_or_404(FlashSession, pk=pk)
        require_feature(self.shop, "flash_sales")
        flash.session_end(session)
        messages.success(request, _("Ended: %(name)s.") % {"name": session.name})
        return HttpResponseRedirect(reverse("marketing-console:flash-sales"))


class GroupDeals(ConsoleView):
    fields = ("name", "size", "hours", "starts_at", "ends_at", "sku", "price")

    def page(self, data: dict[str, str], errors: dict[str, list[str]], status: int = 200) -> HttpResponse:
        deals = GroupDeal.objects.prefetch_related("items__sku__product").order_by("-starts_at", "-id")[:100]
        return self.render(
            "marketing/console/group_deals.html",
            {
                "rows": [{**groups.deal_row(d), "results": groups.group_results(d)} for d in deals],
                "skus": _skus(),
                "data": data,
                "problems": sorted(errors.items()),  # (an "items" key would shadow dict.items in a template)
                "now": timezone.now(),
            },
            status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        require_feature(self.shop, "group_buying")
        return self.page({}, {})

    def post(self, request: HttpRequest) -> HttpResponse:
        require_feature(self.shop, "group_buying")
        data = {k: request.POST.get(k, "") for k in self.fields}
        errors: dict[str, list[str]] = {}
        price = parse_yuan(data["price"]) if data["price"].strip() else None
        if price is None:
            errors["price"] = [_("Enter an amount like 99.90.")]
        if not errors:
            try:
                groups.deal_create(
                    {
                        "name": data["name"],
                        "size": _whole(data["size"]),
                        "hours": _whole(data["hours"]),
                        "simulate_on_expiry": "simulate_on_expiry" in request.POST,
                        "starts_at": _local(data["starts_at"]),
                        "ends_at": _local(data["ends_at"]),
                        "items": [{"sku": whole_number(data["sku"], 2**31 - 1), "price": price}],
                    }
                )
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                messages.success(request, _("Saved."))
                return HttpResponseRedirect(reverse("marketing-console:group-deals"))
        return self.page(data, errors, 400)


class GroupDealDetail(ConsoleView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        deal = get_object_or_404(GroupDeal.objects.prefetch_related("items__sku__product"), pk=pk)
        require_feature(self.shop, "group_buying")
        return self.render(
            "marketing/console/group_deal.html",
            {
                "deal": groups.deal_row(deal),
                "results": groups.group_results(deal),
                "groups": [groups.group_row(g) for g in groups.deal_groups(deal)[:200]],
            },
        )


class GroupDealEnd(ConsoleView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        deal = get_object_or_404(GroupDeal, pk=pk)
        require_feature(self.shop, "group_buying")
        groups.deal_end(deal)
        messages.success(request, _("Ended: %(name)s.") % {"name": deal.name})
        return HttpResponseRedirect(reverse("marketing-console:group-deals"))
