"""Shop settings in the merchant console: order timeouts and windows, what happens to a
late payment, and the default shipping template (fee, free-shipping threshold, regions)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from platform_core.scoping import ConsoleView
from shop.catalogue.console import parse_yuan, whole_number, yuan
from shop.checkout.models import ShippingTemplate
from shop.models import ShopSettings

LIMITS = {"unpaid_timeout_minutes": (5, 1440), "auto_confirm_days": (1, 30), "after_sales_days": (0, 30)}


def _rules_text(rules: list[dict[str, Any]]) -> str:
    lines = []
    for rule in rules:
        fee = "-" if rule.get("fee") is None else yuan(rule["fee"])
        lines.append(f"{', '.join(rule.get('provinces', []))}: {fee}")
    return "\n".join(lines)


def _parse_rules(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    rules, errors = [], []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        places, _sep, fee_text = line.replace("：", ":").rpartition(":")
        provinces = [p.strip() for p in places.replace("，", ",").split(",") if p.strip()]
        fee_text = fee_text.strip()
        fee = None if fee_text == "-" else parse_yuan(fee_text)
        if not provinces or (fee is None and fee_text != "-"):
            errors.append(_("Line %(n)s: write “Province, Province: 12.00” (or “: -” for no delivery).") % {"n": n})
            continue
        rules.append({"provinces": provinces, "fee": fee})
    return rules, errors


class SettingsPage(ConsoleView):
    owner_only = True

    def get(self, request: HttpRequest) -> HttpResponse:
        settings = ShopSettings.current()
        template = ShippingTemplate.objects.filter(is_default=True).first()
        data = {
            **{f: getattr(settings, f) for f in LIMITS},
            "late_payment": settings.late_payment,
            "default_fee": yuan(template.default_fee) if template else "0.00",
            "free_over": yuan(template.free_over) if template and template.free_over is not None else "",
            "rules": _rules_text(template.rules) if template else "",
        }
        return self._page(data, {})

    def _page(self, data: dict[str, Any], errors: dict[str, list[str]], status: int = 200) -> HttpResponse:
        return self.render(
            "shop/console/settings.html",
            {"data": data, "errors": errors, "late_choices": ShopSettings.LatePayment.choices},
            status=status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        data = {
            k: request.POST.get(k, "").strip() for k in (*LIMITS, "late_payment", "default_fee", "free_over", "rules")
        }
        errors: dict[str, list[str]] = {}
        numbers: dict[str, int] = {}
        for field, (low, high) in LIMITS.items():
            value = whole_number(data[field], high)
            if value is None or not low <= value <= high:
                errors[field] = [_("A whole number from %(low)s to %(high)s.") % {"low": low, "high": high}]
            else:
                numbers[field] = value
        if data["late_payment"] not in ShopSettings.LatePayment.values:
            errors["late_payment"] = [_("Choose one.")]
        default_fee = parse_yuan(data["default_fee"] or "0")
        if default_fee is None:
            errors["default_fee"] = [_("Enter an amount like 8.00.")]
        free_over = parse_yuan(data["free_over"]) if data["free_over"] else None
        if data["free_over"] and free_over is None:
            errors["free_over"] = [_("Enter an amount like 99.00, or leave empty.")]
        rules, rule_errors = _parse_rules(data["rules"])
        if rule_errors:
            errors["rules"] = rule_errors
        if errors:
            return self._page(data, errors, status=400)
        with transaction.atomic():
            settings = ShopSettings.current()
            for field, value in numbers.items():
                setattr(settings, field, value)
            settings.late_payment = data["late_payment"]
            settings.save()
            template = ShippingTemplate.objects.select_for_update().filter(is_default=True).first() or ShippingTemplate(
                name=_("Default"), is_default=True
            )
            template.default_fee, template.free_over, template.rules = default_fee or 0, free_over, rules
            template.save()
        messages.success(request, _("Settings saved."))
        return HttpResponseRedirect(reverse("console:settings"))
