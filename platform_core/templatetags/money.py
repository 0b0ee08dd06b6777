from __future__ import annotations

from django import template

from platform_core.money import format_money

register = template.Library()


@register.filter(name="money")
def money_filter(amount: int | None, currency: str = "CNY") -> str:
    """``{{ invoice.amount_due|money:invoice.currency }}`` → ``¥99.00``."""
    if amount is None:
        return ""
    return format_money(amount, currency)
