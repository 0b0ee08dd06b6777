"""Merchant console pages for marketing: one overview of coupons, limited-time discounts and
full reductions (with their results and an End button each), and a page to create each.
The richer editing (scopes, per-SKU prices, issuing to members) is in the console API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.features import require_feature
from platform_core.scoping import ConsoleView
from shop.catalogue.console import parse_yuan, whole_number
from shop.catalogue.models import Product
from shop.marketing import services
from shop.marketing.models import CouponTemplate, FullReduction, LimitedDiscount, MemberCoupon


def _local(raw: str) -> str | None:
    """A ``datetime-local`` field ("2026-06-18T20:00") as an aware ISO time, or None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return raw  # the service says it is not a date
    return timezone.make_aware(parsed).isoformat() if timezone.is_naive(parsed) else parsed.isoformat()


def _money(raw: str, key: str, errors: dict[str, list[str]]) -> int | None:
    if not (raw or "").strip():
        return None
    value = parse_yuan(raw)
    if value is None:
        errors[key] = [_("Enter an amount like 99.90.")]
    return value


def _number(raw: str, key: str, errors: dict[str, list[str]]) -> int | None:
    if not (raw or "").strip():
        return None
    value = whole_number(raw)
    if value is None:
        errors[key] = [_("Enter a whole number.")]
    return value


class MarketingHome(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        coupons = CouponTemplate.objects.annotate(
            used=Count("coupons", filter=Q(coupons__status=MemberCoupon.Status.USED))
        ).order_by("-created_at", "-id")[:100]
        discounts = LimitedDiscount.objects.annotate(
            units=Sum("uses__quantity", filter=~Q(uses__order__status="cancelled"))
        ).order_by("-starts_at", "-id")[:100]
        return self.render(
            "marketing/console/home.html",
            {
                "coupons": coupons,
                "discounts": discounts,
                "reductions": FullReduction.objects.order_by("-starts_at", "-id")[:100],
                "now": timezone.now(),
            },
        )


class _Form(ConsoleView):
    feature = ""
    template = ""
    fields: tuple[str, ...] = ()

    def get(self, request: HttpRequest) -> HttpResponse:
        require_feature(self.shop, self.feature)
        return self.page({}, {})

    def page(self, data: dict[str, Any], errors: dict[str, list[str]], status: int = 200) -> HttpResponse:
        return self.render(self.template, {"data": data, "errors": errors, **self.extra()}, status)

    def extra(self) -> dict[str, Any]:
        return {}

    def post(self, request: HttpRequest) -> HttpResponse:
        require_feature(self.shop, self.feature)
        data = {k: request.POST.get(k, "") for k in self.fields}
        errors: dict[str, list[str]] = {}
        body = self.body(data, request, errors)
        if not errors:
            try:
                self.save(body)
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                messages.success(request, _("Saved."))
                return HttpResponseRedirect(reverse("marketing-console:home"))
        return self.page(data, errors, 400)

    def body(self, data: dict[str, str], request: HttpRequest, errors: dict[str, list[str]]) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, body: dict[str, Any]) -> Any:
        raise NotImplementedError


class CouponNew(_Form):
    feature = "coupons"
    template = "marketing/console/coupon_form.html"
    fields = (
        "name",
        "kind",
        "amount",
        "percent_off",
        "max_discount",
        "min_spend",
        "valid_until",
        "valid_days",
        "total_quantity",
        "per_member_limit",
        "distributor_code",
    )

    def extra(self) -> dict[str, Any]:
        return {"kinds": CouponTemplate.Kind.choices}

    def body(self, data: dict[str, str], request: HttpRequest, errors: dict[str, list[str]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": data["name"],
            "kind": data["kind"],
            "amount": _money(data["amount"], "amount", errors) or 0,
            "max_discount": _money(data["max_discount"], "max_discount", errors),
            "min_spend": _money(data["min_spend"], "min_spend", errors) or 0,
            "valid_until": _local(data["valid_until"]),
            "valid_days": _number(data["valid_days"], "valid_days", errors),
            "total_quantity": _number(data["total_quantity"], "total_quantity", errors),
            "per_member_limit": _number(data["per_member_limit"], "per_member_limit", errors) or 1,
            "distributor_code": data["distributor_code"],
            "claimable": "claimable" in request.POST,
            "on_registration": "on_registration" in request.POST,
            "combines_with_activities": "combines_with_activities" in request.POST,
        }
        if data["kind"] == CouponTemplate.Kind.PERCENT:
            body["percent_off"] = _number(data["percent_off"], "percent_off", errors)
        return body

    def save(self, body: dict[str, Any]) -> Any:
        return services.coupon_template_save(body)


class DiscountNew(_Form):
    feature = "limited_time_discounts"
    template = "marketing/console/discount_form.html"
    fields = ("name", "starts_at", "ends_at", "per_member_limit", "percent_off")

    def extra(self) -> dict[str, Any]:
        return {"products": Product.objects.filter(status=Product.Status.ON_SALE).order_by("name")[:500]}

    def body(self, data: dict[str, str], request: HttpRequest, errors: dict[str, list[str]]) -> dict[str, Any]:
        percent = _number(data["percent_off"], "percent_off", errors)
        products = [whole_number(p, 2**31 - 1) for p in request.POST.getlist("products")]
        return {
            "name": data["name"],
            "starts_at": _local(data["starts_at"]),
            "ends_at": _local(data["ends_at"]),
            "per_member_limit": _number(data["per_member_limit"], "per_member_limit", errors),
            "items": [{"product": p, "percent_off": percent} for p in products],
        }

    def save(self, body: dict[str, Any]) -> Any:
        return services.discount_save(body)


class ReductionNew(_Form):
    feature = "limited_time_discounts"
    template = "marketing/console/reduction_form.html"
    fields = ("name", "kind", "tiers", "starts_at", "ends_at")

    def extra(self) -> dict[str, Any]:
        return {"kinds": FullReduction.Kind.choices}

    def body(self, data: dict[str, str], request: HttpRequest, errors: dict[str, list[str]]) -> dict[str, Any]:
        tiers = []
        for line in data["tiers"].splitlines():
            if not line.strip():
                continue
            threshold, _sep, value = line.replace("：", ":").partition(":")
            amount = parse_yuan(threshold)
            off = parse_yuan(value) if data["kind"] == FullReduction.Kind.AMOUNT else whole_number(value, 99)
            if amount is None or off is None:
                errors["tiers"] = [_("One tier per line, like 100: 10.")]
                break
            tiers.append({"threshold": amount, "value": off})
        return {
            "name": data["name"],
            "kind": data["kind"],
            "tiers": tiers,
            "starts_at": _local(data["starts_at"]),
            "ends_at": _local(data["ends_at"]),
        }

    def save(self, body: dict[str, Any]) -> Any:
        return services.reduction_save(body)


class End(ConsoleView):
    """POST: end a coupon (no more claims), a discount or a full reduction now."""

    kinds: dict[str, tuple[Any, Any, str]] = {
        "coupons": (CouponTemplate, services.coupon_template_end, "coupons"),
        "discounts": (LimitedDiscount, services.discount_end, "limited_time_discounts"),
        "reductions": (FullReduction, services.reduction_end, "limited_time_discounts"),
    }

    def post(self, request: HttpRequest, kind: str, pk: int) -> HttpResponse:
        model, end, feature = self.kinds[kind]
        obj = get_object_or_404(model, pk=pk)
        require_feature(self.shop, feature)
        end(obj)
        messages.success(request, _("Ended: %(name)s.") % {"name": obj.name})
        return HttpResponseRedirect(reverse("marketing-console:home"))
