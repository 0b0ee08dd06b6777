"""Reconciliation of the shop's money: the checks of ``distribution_verify`` that belong
to the commerce core — payments and their refunds, what each refund was for per order
line (``RefundLine``, written by ``allocation``), the lines' and orders' refunded
figures, and the shop balance."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from platform_core.checks import Finding, descriptions
from platform_core.money import format_money


@dataclass
class LineRefund:
    amount: int = 0  # refunded or on its way back (pending and succeeded refunds)
    quantity: int = 0
    back: int = 0  # of ``amount``, money that is back with the buyer (succeeded refunds)


def line_refunds() -> dict[int, LineRefund]:
    """Per order line, from the refunds' parts (a failed refund gave its parts back)."""
    from shop.payments.models import Refund, RefundLine

    found: dict[int, LineRefund] = defaultdict(LineRefund)
    rows = (
        RefundLine.objects.filter(kind=RefundLine.Kind.GOODS)
        .exclude(refund__status=Refund.Status.FAILED)
        .values("order_line_id", "refund__status")
        .annotate(amount=Sum("amount"), quantity=Sum("quantity"))
    )
    for row in rows:
        got = found[row["order_line_id"]]
        got.amount += int(row["amount"])
        got.quantity += int(row["quantity"])
        if row["refund__status"] == Refund.Status.SUCCEEDED:
            got.back += int(row["amount"])
    return dict(found)


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


def check_refunds() -> list[Finding]:
    """Each refund is for exactly its amount; a payment that never paid for the order is
    refunded for nothing of it."""
    from shop.payments.models import Refund, RefundLine

    found: list[Finding] = []
    parts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for refund_id, kind, amount in (
        RefundLine.objects.values("refund_id", "kind")
        .annotate(total=Sum("amount"))
        .values_list("refund_id", "kind", "total")
    ):
        parts[refund_id][kind] += int(amount)
    for refund in Refund.objects.select_related("payment__order").order_by("id").iterator():
        subject = _("order %(order)s, refund %(refund)s") % {"order": refund.payment.order.number, "refund": refund.pk}
        mine = parts.get(refund.pk, {})
        if sum(mine.values()) != refund.amount:
            found.append(
                Finding("refund_parts_differ", subject, {"amount": refund.amount, "parts": sum(mine.values())})
            )
        order_parts = mine.get(RefundLine.Kind.GOODS, 0) + mine.get(RefundLine.Kind.SHIPPING, 0)
        if not refund.payment.pays_order and order_parts:
            found.append(Finding("refund_of_surplus_for_goods", subject, {"amount": order_parts}))
    return found


def check_lines(refunds: dict[int, LineRefund]) -> list[Finding]:
    """Per order line: refunded ≤ paid (amount and units), and the line's figures are its
    refunds' parts; per order: shipping refunded ≤ shipping paid, and its parts."""
    from shop.orders.models import Order, OrderLine
    from shop.payments.models import Refund, RefundLine

    found: list[Finding] = []
    lines = (
        OrderLine.objects.filter(Q(refunded_amount__gt=0) | Q(refunded_quantity__gt=0) | Q(pk__in=list(refunds)))
        .select_related("order")
        .order_by("id")
    )
    for line in lines.iterator():
        got = refunds.get(line.pk, LineRefund())
        subject = _("order %(order)s, %(name)s (line %(line)s)") % {
            "order": line.order.number,
            "line": line.pk,
            "name": line.product_name,
        }
        if got.amount > line.amount_paid or line.refunded_amount > line.amount_paid:
            found.append(
                Finding(
                    "line_over_refunded",
                    subject,
                    {"paid": line.amount_paid, "refunded": max(got.amount, line.refunded_amount)},
                )
            )
        if got.quantity > line.quantity:
            found.append(
                Finding("line_units_over_refunded", subject, {"units": line.quantity, "refunded": got.quantity})
            )
        if (line.refunded_amount, line.refunded_quantity) != (got.amount, got.quantity):
            found.append(
                Finding(
                    "line_refunds_differ",
                    subject,
                    {
                        "recorded": line.refunded_amount,
                        "parts": got.amount,
                        "recorded_units": line.refunded_quantity,
                        "part_units": got.quantity,
                    },
                )
            )
    shipping = dict(
        RefundLine.objects.filter(kind=RefundLine.Kind.SHIPPING)
        .exclude(refund__status=Refund.Status.FAILED)
        .values("refund__payment__order_id")
        .annotate(total=Sum("amount"))
        .values_list("refund__payment__order_id", "total")
    )
    orders = Order.objects.filter(Q(shipping_refunded__gt=0) | Q(pk__in=list(shipping))).order_by("id")
    for order in orders.iterator():
        parts = int(shipping.get(order.pk) or 0)
        subject = _("order %(order)s") % {"order": order.number}
        if max(parts, order.shipping_refunded) > order.shipping_fee:
            found.append(
                Finding(
                    "shipping_over_refunded",
                    subject,
                    {"paid": order.shipping_fee, "refunded": max(parts, order.shipping_refunded)},
                )
            )
        if parts != order.shipping_refunded:
            found.append(
                Finding("shipping_refunds_differ", subject, {"recorded": order.shipping_refunded, "parts": parts})
            )
    return found


def check_wallet() -> list[Finding]:
    from shop.wallet import services as wallet

    return [
        Finding("wallet_balance", _("member %(member)s") % {"member": member}, {"cached": cached, "entries": entries})
        for member, cached, entries in wallet.verify()
    ]


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
        "line_refunds_differ": lambda f: (
            _(
                "The line records %(recorded)s (%(recorded_units)s units) refunded, its refunds' parts say %(parts)s "
                "(%(part_units)s units)."
            )
            % {**f, "recorded": _money(f["recorded"]), "parts": _money(f["parts"])}
        ),
        "shipping_refunds_differ": lambda f: (
            _("The order records %(recorded)s of shipping refunded, its refunds say %(parts)s.")
            % {"recorded": _money(f["recorded"]), "parts": _money(f["parts"])}
        ),
        "refund_parts_differ": lambda f: (
            _("A refund of %(amount)s whose parts come to %(parts)s.")
            % {"amount": _money(f["amount"]), "parts": _money(f["parts"])}
        ),
        "refund_of_surplus_for_goods": lambda f: (
            _("%(amount)s of a refund of a payment that never paid for the order was counted as goods or shipping.")
            % {"amount": _money(f["amount"])}
        ),
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
