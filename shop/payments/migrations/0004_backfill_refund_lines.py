"""Backfill what every existing refund was for, per order line (``RefundLine``), and the
lines' and orders' refunded figures, from the records refunds left before they were kept:

* the automatic refund of a payment that could not pay the order (its idempotency key
  is ``auto-refund-<payment>``): for nothing of the order, and that payment is marked as
  never having paid for it;
* an after-sale's refund: its lines (units and amounts), then its shipping share, spread
  over its refunds of the same attempt in id order; a line never takes more than it has
  left (an after-sale made before an order-page refund could ask for more: the excess is
  spread like an order-page refund);
* any other refund (the order page, a failed group buy): spread over the goods by what
  each line has left (largest remainder), the rest shipping, anything beyond for nothing.

Refunds are taken in the order they were made; a failed refund gets its parts but
counts for nothing. Frozen here: the rules as they stood when the parts were introduced."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _allocate(amount: int, weights: list[int]) -> list[int]:
    total = sum(weights)
    if amount <= 0 or total <= 0:
        return [0] * len(weights)
    amount = min(amount, total)
    shares = [amount * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in order[: amount - sum(shares)]:
        shares[i] += 1
    return shares


class _Order:
    def __init__(self, order: Any, lines: list[Any]) -> None:
        self.order = order
        self.lines = lines
        self.amount = {line.pk: 0 for line in lines}
        self.units = {line.pk: 0 for line in lines}
        self.shipping = 0

    def left(self, line: Any) -> int:
        return max(0, line.amount_paid - self.amount[line.pk])

    def spread(self, amount: int) -> list[tuple[str, int | None, int, int]]:
        """An amount by the rule: goods by what each line has left, then shipping, then surplus."""
        parts: list[tuple[str, int | None, int, int]] = []
        lefts = [self.left(line) for line in self.lines]
        goods = min(amount, sum(lefts))
        for line, share, had in zip(self.lines, _allocate(goods, lefts), lefts, strict=True):
            if share:
                units = line.quantity - self.units[line.pk] if share == had else 0
                parts.append(("goods", line.pk, share, units))
        rest = amount - goods
        shipping = min(rest, max(0, self.order.shipping_fee - self.shipping))
        if shipping:
            parts.append(("shipping", None, shipping, 0))
        if rest - shipping:
            parts.append(("surplus", None, rest - shipping, 0))
        return parts

    def clamp(self, wanted: list[tuple[str, int | None, int, int]]) -> list[tuple[str, int | None, int, int]]:
        """An after-sale's slice, each line within what it has left; the excess by the rule."""
        by_id = {line.pk: line for line in self.lines}
        parts, excess = [], 0
        for kind, line_id, amount, units in wanted:
            if kind == "goods" and line_id in by_id:
                line = by_id[line_id]
                take = min(amount, self.left(line))
                units = min(units, line.quantity - self.units[line_id])
                if take or units:
                    parts.append(("goods", line_id, take, units))
                excess += amount - take
            elif kind == "shipping":
                take = min(amount, max(0, self.order.shipping_fee - self.shipping))
                if take:
                    parts.append(("shipping", None, take, 0))
                excess += amount - take
            else:
                excess += amount
        if excess:
            self.apply(parts)  # the clamped parts first, then the excess on what is left after them
            extra = self.spread(excess)
            self.unapply(parts)
            parts += extra
        return parts

    def apply(self, parts: list[tuple[str, int | None, int, int]]) -> None:
        for kind, line_id, amount, units in parts:
            if kind == "goods" and line_id is not None:
                self.amount[line_id] += amount
                self.units[line_id] += units
            elif kind == "shipping":
                self.shipping += amount

    def unapply(self, parts: list[tuple[str, int | None, int, int]]) -> None:
        for kind, line_id, amount, units in parts:
            if kind == "goods" and line_id is not None:
                self.amount[line_id] -= amount
                self.units[line_id] -= units
            elif kind == "shipping":
                self.shipping -= amount


def _attempt(key: str) -> str:
    # "aftersale-<id>-<attempt>-<payment>"
    bits = key.split("-")
    return bits[2] if len(bits) == 4 and bits[0] == "aftersale" else key


def backfill(apps: Any, schema_editor: Any) -> None:
    Order = apps.get_model("orders", "Order")
    OrderLine = apps.get_model("orders", "OrderLine")
    Payment = apps.get_model("payments", "Payment")
    Refund = apps.get_model("payments", "Refund")
    RefundLine = apps.get_model("payments", "RefundLine")
    AfterSale = apps.get_model("aftersales", "AfterSale")
    AfterSaleLine = apps.get_model("aftersales", "AfterSaleLine")
    done = set(RefundLine.objects.values_list("refund_id", flat=True))
    order_ids = sorted(set(Refund.objects.values_list("payment__order_id", flat=True)))
    through = AfterSale.refunds.through
    for order_id in order_ids:
        order = Order.objects.get(pk=order_id)
        state = _Order(order, list(OrderLine.objects.filter(order_id=order_id).order_by("id")))
        refunds = list(Refund.objects.filter(payment__order_id=order_id).order_by("created_at", "id"))
        links: dict[int, int] = dict(
            through.objects.filter(refund_id__in=[r.pk for r in refunds]).values_list("refund_id", "aftersale_id")
        )
        given: dict[tuple[int, str], int] = {}  # (after-sale, attempt) → fen of it sliced so far
        rows = []
        for refund in refunds:
            if refund.idempotency_key.startswith("auto-refund-"):
                Payment.objects.filter(pk=refund.payment_id).update(pays_order=False)
                parts: list[tuple[str, int | None, int, int]] = [("surplus", None, refund.amount, 0)]
            elif refund.pk in links:
                aftersale = AfterSale.objects.get(pk=links[refund.pk])
                wanted = [
                    ("goods", row.order_line_id, row.amount, row.quantity)
                    for row in AfterSaleLine.objects.filter(aftersale=aftersale).order_by("id")
                ]
                if aftersale.shipping_refund:
                    wanted.append(("shipping", None, aftersale.shipping_refund, 0))
                key = (aftersale.pk, _attempt(refund.idempotency_key))
                offset, end = given.get(key, 0), given.get(key, 0) + refund.amount
                given[key] = end
                sliced, at = [], 0
                for kind, line_id, amount, units in wanted:
                    lo, hi = max(at, offset), min(at + amount, end)
                    if hi > lo:
                        sliced.append((kind, line_id, hi - lo, units if hi == at + amount else 0))
                    at += amount
                if end > at:
                    sliced.append(("surplus", None, end - max(at, offset), 0))
                parts = state.clamp(sliced)
            else:
                parts = state.spread(refund.amount)
            if refund.status != "failed":
                state.apply(parts)
            if refund.pk not in done:
                rows += [
                    RefundLine(refund_id=refund.pk, kind=kind, order_line_id=line_id, amount=amount, quantity=units)
                    for kind, line_id, amount, units in parts
                ]
        RefundLine.objects.bulk_create(rows)
        for line in state.lines:
            OrderLine.objects.filter(pk=line.pk).update(
                refunded_amount=state.amount[line.pk], refunded_quantity=state.units[line.pk]
            )
        Order.objects.filter(pk=order_id).update(shipping_refunded=state.shipping)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0003_refunds_per_line"),
        ("orders", "0003_refunds_per_line"),
        ("aftersales", "0003_shipping_refund"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
