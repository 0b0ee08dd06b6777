"""Reconciliation of the shop's money: what each refund was for, per order line, and the
checks of ``distribution_verify`` that belong to the commerce core (payments, refunds,
order lines, the shop balance).

Per order line, the refunded amount is rebuilt from the refunds themselves, in the order
they were made: a refund of a payment that never paid for the goods (the automatic
refund of a duplicate, late or mismatched payment) is for none of them; an after-sale's
refund is for its lines (and its shipping share); any other refund (the merchant's
order page, a failed group) is spread over the goods by what each line has left (largest
remainder), the part beyond the goods being shipping."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext as _

from platform_core.checks import Finding, descriptions
from platform_core.money import format_money

AUTO_REFUND_PREFIX = "auto-refund-"


@dataclass
class LineRefund:
    amount: int = 0  # refunded or on its way back (pending and succeeded refunds)
    quantity: int = 0
    back: int = 0  # of ``amount``, money that is back with the buyer (succeeded refunds)


@dataclass
class OrderRefunds:
    lines: dict[int, LineRefund] = field(default_factory=dict)
    shipping: int = 0
    surplus: int = 0  # refunded money that paid for nothing of the order


def _allocate(amount: int, weights: list[int]) -> list[int]:
    from shop.pricing import allocate

    return allocate(amount, weights)


def rebuild(order: Any) -> OrderRefunds:
    """What the order's refunds (pending or succeeded; failed ones gave the money back to
    the payment) were for, per line, in the order they were made."""
    from shop.payments.models import Refund

    lines = list(order.lines.order_by("id"))
    state = OrderRefunds(lines={line.pk: LineRefund() for line in lines})
    refunds = list(
        Refund.objects.filter(payment__order_id=order.pk)
        .exclude(status=Refund.Status.FAILED)
        .select_related("payment")
        .prefetch_related("aftersales__lines")
        .order_by("created_at", "id")
    )
    # an after-sale's lines (then its shipping share) spread over its refunds, in id order
    aftersale_parts: dict[int, list[tuple[int | None, int, int]]] = {}
    for refund in refunds:
        for aftersale in refund.aftersales.all():
            if aftersale.pk not in aftersale_parts:
                parts: list[tuple[int | None, int, int]] = [
                    (row.order_line_id, row.amount, row.quantity) for row in aftersale.lines.all()
                ]
                if aftersale.shipping_refund:
                    parts.append((None, aftersale.shipping_refund, 0))
                aftersale_parts[aftersale.pk] = parts
    for refund in refunds:
        back = refund.status == Refund.Status.SUCCEEDED
        if refund.idempotency_key.startswith(AUTO_REFUND_PREFIX):
            state.surplus += refund.amount
            continue
        aftersales = list(refund.aftersales.all())
        if aftersales:
            left = refund.amount
            for aftersale in aftersales:
                parts = aftersale_parts[aftersale.pk]
                while left > 0 and parts:
                    line_id, amount, quantity = parts[0]
                    take = min(left, amount)
                    _add(state, line_id, take, quantity if take == amount else 0, back)
                    left -= take
                    parts[0] = (line_id, amount - take, quantity if take < amount else 0)
                    if parts[0][1] == 0:
                        parts.pop(0)
            state.surplus += left
            continue
        _spread(state, lines, refund.amount, back, order.shipping_fee)
    return state


def _add(state: OrderRefunds, line_id: int | None, amount: int, quantity: int, back: bool) -> None:
    if line_id is None:
        state.shipping += amount
        return
    found = state.lines.setdefault(line_id, LineRefund())
    found.amount += amount
    found.quantity += quantity
    if back:
        found.back += amount


def _spread(state: OrderRefunds, lines: list[Any], amount: int, back: bool, shipping_fee: int) -> None:
    left = [max(0, line.amount_paid - state.lines[line.pk].amount) for line in lines]
    goods = min(amount, sum(left))
    for line, share, had in zip(lines, _allocate(goods, left), left, strict=True):
        if share:
            units = max(0, line.quantity - state.lines[line.pk].quantity) if share == had else 0
            _add(state, line.pk, share, units, back)
    rest = amount - goods
    shipping = min(rest, max(0, shipping_fee - state.shipping))
    state.shipping += shipping
    state.surplus += rest - shipping


def refunded_orders() -> Iterable[Any]:
    """Orders with at least one refund (the ones worth rebuilding)."""
    from shop.orders.models import Order

    return Order.objects.filter(payments__refunds__isnull=False).distinct().order_by("id").iterator(chunk_size=500)


# --- checks ----------------------------------------------------------------------------------
def check_payments() -> list[Finding]:
    from shop.payments.models import Payment, Refund

    found: list[Finding] = []
    sums = dict(
        Refund.objects.exclude(status=Refund.Status.FAILED)
        .values("payment_id")
        .annotate(total=Sum("amount"))
        .values_list("payment_id", "total")
    )
    for payment in Payment.objects.filter(refunded_amount__gt=0).select_related("order").order_by("id").iterator():
        subject = _("order %(order)s, payment %(payment)s") % {"order": payment.order.number, "payment": payment.pk}
        refunds = int(sums.get(payment.pk) or 0)
        if payment.refunded_amount > payment.amount or refunds > payment.amount:
            found.append(
                Finding(
                    "payment_over_refunded",
                    subject,
                    {"captured": payment.amount, "refunded": max(payment.refunded_amount, refunds)},
                )
            )
        if payment.refunded_amount != refunds:
            found.append(
                Finding("payment_refunds_differ", subject, {"recorded": payment.refunded_amount, "refunds": refunds})
            )
    return found


def check_lines(rebuilt: dict[int, tuple[Any, OrderRefunds]]) -> list[Finding]:
    found: list[Finding] = []
    for order, refunds in rebuilt.values():
        for line in order.lines.order_by("id"):
            got = refunds.lines.get(line.pk, LineRefund())
            subject = _("order %(order)s, line %(line)s (%(name)s)") % {
                "order": order.number,
                "line": line.pk,
                "name": line.product_name,
            }
            if got.amount > line.amount_paid:
                found.append(Finding("line_over_refunded", subject, {"paid": line.amount_paid, "refunded": got.amount}))
            if got.quantity > line.quantity:
                found.append(
                    Finding("line_units_over_refunded", subject, {"units": line.quantity, "refunded": got.quantity})
                )
        if refunds.shipping > order.shipping_fee:
            found.append(
                Finding(
                    "shipping_over_refunded",
                    _("order %(order)s") % {"order": order.number},
                    {"paid": order.shipping_fee, "refunded": refunds.shipping},
                )
            )
    return found


def check_wallet() -> list[Finding]:
    from shop.wallet import services as wallet

    return [
        Finding("wallet_balance", _("member %(member)s") % {"member": member}, {"cached": cached, "entries": entries})
        for member, cached, entries in wallet.verify()
    ]


def rebuild_all() -> dict[int, tuple[Any, OrderRefunds]]:
    return {order.pk: (order, rebuild(order)) for order in refunded_orders()}


def _money(value: Any) -> str:
    return format_money(int(value))


descriptions.update(
    {
        "payment_over_refunded": lambda f: (
            _("Refunds of %(refunded)s exceed the %(captured)s captured.")
            % {"refunded": _money(f["refunded"]), "captured": _money(f["captured"])}
        ),
        "payment_refunds_differ": lambda f: (
            _("The payment records %(recorded)s refunded, its refunds sum to %(refunds)s.")
            % {"recorded": _money(f["recorded"]), "refunds": _money(f["refunds"])}
        ),
        "line_over_refunded": lambda f: (
            _("Refunded %(refunded)s of a line that was paid %(paid)s.")
            % {"refunded": _money(f["refunded"]), "paid": _money(f["paid"])}
        ),
        "line_units_over_refunded": lambda f: _("%(refunded)s units refunded of %(units)s.") % f,
        "shipping_over_refunded": lambda f: (
            _("Refunded %(refunded)s of shipping that was paid %(paid)s.")
            % {"refunded": _money(f["refunded"]), "paid": _money(f["paid"])}
        ),
        "wallet_balance": lambda f: (
            _("Shop balance %(cached)s, its entries sum to %(entries)s.")
            % {"cached": _money(f["cached"]), "entries": _money(f["entries"])}
        ),
    }
)
