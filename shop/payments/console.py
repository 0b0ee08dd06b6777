"""Merchant console: payments and refunds on the order page (the order page's form posts
an ``action`` that ``shop.orders.console`` hands over here), and the payment settings."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from platform_core import stripe_gateway as gateway
from platform_core.parsing import as_id
from platform_core.scoping import ConsoleView
from shop.catalogue.console import parse_yuan, whole_number
from shop.orders.models import Order
from shop.payments import services
from shop.payments.models import PaymentSettings, Refund

ACTIONS = {"refund", "refund_sent"}
ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9]{4,60}$")


def handle(order: Order, action: str, data: Any, actor: str) -> None:
    """Do an order page's payment action; a ValidationError names the field at fault."""
    if action == "refund":
        _refund(order, data, actor)
    elif action == "refund_sent":
        refund = Refund.objects.select_related("payment").filter(
            pk=_int(data.get("refund")), payment__order=order, status=Refund.Status.PENDING
        )
        found = refund.first()
        if found is None:
            raise ValidationError({"refund": [_("Choose a pending refund of this order.")]})
        services.offline_refund_sent(found, reference=data.get("reference", ""), actor=actor)


def _int(raw: Any) -> int:
    return as_id(raw) or 0


def _refund(order: Order, data: Any, actor: str) -> None:
    """The order page's refund form: what the refund is for ("lines": units and amounts of
    lines, and shipping; "amount": an amount for the goods by the rule), in yuan."""
    errors: dict[str, list[str]] = {}
    mode = str(data.get("for") or ("amount" if str(data.get("amount") or "").strip() else "lines"))
    amount: int | None = None
    lines: list[tuple[int, int, int | None]] = []
    shipping = 0
    if mode == "amount":
        amount = parse_yuan(data.get("amount", ""))
        if amount is None or amount < 1:
            errors["amount"] = [_("Enter the amount to refund, like 12.50.")]
    else:
        for line in order.lines.order_by("id"):
            raw_units = str(data.get(f"qty_{line.pk}") or "").strip()
            raw_amount = str(data.get(f"amount_{line.pk}") or "").strip()
            units = whole_number(raw_units or "0", 100_000)
            value = parse_yuan(raw_amount) if raw_amount else None
            if units is None or (raw_amount and value is None):
                errors["lines"] = [
                    _("%(name)s: units are a whole number, the amount like 12.50.") % {"name": line.product_name}
                ]
                continue
            if units or value:
                lines.append((line.pk, units, value))
        raw_shipping = str(data.get("shipping") or "").strip()
        if raw_shipping:
            parsed = parse_yuan(raw_shipping)
            if parsed is None:
                errors["shipping"] = [_("Enter the shipping to refund, like 8.00.")]
            shipping = parsed or 0
    if errors:
        raise ValidationError(errors)
    services.order_refund(
        order,
        payment=_int(data.get("payment")) or None,
        amount=amount,
        lines=tuple(lines),
        shipping=shipping,
        reason=data.get("reason", "") or _("refunded by the shop"),
        actor=actor,
        idempotency_key=str(data.get("key") or "").strip() or None,
        reference=str(data.get("reference", "") or ""),
    )


class PaymentSettingsPage(ConsoleView):
    owner_only = True

    def get(self, request: HttpRequest) -> HttpResponse:
        current = PaymentSettings.current()
        data = {
            "offline_enabled": current.offline_enabled,
            "offline_instructions": current.offline_instructions,
            "stripe_account_id": current.stripe_account_id,
        }
        return self._page(data, {})

    def post(self, request: HttpRequest) -> HttpResponse:
        instructions = request.POST.get("offline_instructions", "").strip()
        account = request.POST.get("stripe_account_id", "").strip()
        data: dict[str, Any] = {
            "offline_enabled": request.POST.get("offline_enabled") == "on",
            "offline_instructions": instructions,
            "stripe_account_id": account,
        }
        errors: dict[str, list[str]] = {}
        if len(instructions) > 1000:
            errors["offline_instructions"] = [_("Use at most 1000 characters.")]
        if account and not ACCOUNT_ID.match(account):
            errors["stripe_account_id"] = [_("A connected account id looks like acct_1A2b3C4d.")]
        if errors:
            return self._page(data, errors, status=400)
        with transaction.atomic():
            current = PaymentSettings.current()
            PaymentSettings.objects.filter(pk=current.pk).update(**data)
        messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("payments-console:settings"))

    def _page(self, data: dict[str, Any], errors: dict[str, list[str]], status: int = 200) -> HttpResponse:
        return self.render(
            "payments/console/settings.html",
            {"data": data, "errors": errors, "stripe": gateway.stripe_enabled()},
            status=status,
        )
