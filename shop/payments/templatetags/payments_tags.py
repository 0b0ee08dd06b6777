from __future__ import annotations

import secrets
from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def form_key() -> str:
    """A fresh idempotency key for one form: submitting it twice does the work once."""
    return secrets.token_urlsafe(18)


@register.simple_tag
def refund_options(order: Any) -> dict[str, Any]:
    """What the order page's refund form offers: per line what is left to refund (money and
    units, open after-sales' holds taken out), the shipping left, and each refund's parts."""
    from shop.payments import allocation
    from shop.payments.models import RefundLine

    found = allocation.refundable(order)
    lines = {line.pk: line for line in order.lines.all()}
    parts: dict[int, list[RefundLine]] = {}
    for part in RefundLine.objects.filter(refund__payment__order=order).order_by("id"):
        parts.setdefault(part.refund_id, []).append(part)
    return {
        "lines": [
            {
                "line": left.line,
                "left_amount": left.amount,
                "left_units": left.units,
                "held_units": left.held_units,
                "held_amount": left.held_amount,
            }
            for left in found.lines.values()
        ],
        "shipping_left": found.shipping,
        "goods_left": found.goods,
        "parts": {pk: allocation.describe_parts(rows, lines) for pk, rows in parts.items()},
    }


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.simple_tag
def posted(data: Any, prefix: str, key: Any) -> str:
    """What the merchant typed in ``<prefix><key>`` (shown again with the form's errors)."""
    return str(data.get(f"{prefix}{key}", "")) if hasattr(data, "get") else ""
