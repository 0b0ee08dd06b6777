"""What a refund is for, recorded per order line: every refund, whatever its path (the
merchant's order page, an after-sale, a failed group buy, the automatic refund of a
duplicate or late payment, a refund to the shop balance), is split into parts
(``RefundLine``): some of an order line (amount and units), the shipping fee, or nothing
of the order. The parts are written with the refund, in its transaction, and move the
line's ``refunded_amount`` / ``refunded_quantity`` (and the order's ``shipping_refunded``)
by guarded UPDATEs, so no line is ever refunded beyond what it paid, even concurrently;
a refund the provider refuses gives them back. Every consumer (the after-sales form,
commission reversal, analytics) reads these figures.

What the merchant can say a refund is for (``RefundFor``):

* **lines**: units of some lines, each worth its share of what the line has left
  (``unit_value``), or an amount of the merchant's choosing up to that;
* **shipping**: up to the shipping fee not refunded yet;
* **an amount for the goods**: spread over the lines by what each has left to refund
  (largest remainder, ``shop.pricing.allocate``), the part beyond the goods being
  shipping — the documented rule, also the default when nothing is said;
* **everything left** (a failed group buy: the order is closed).

A payment that never paid for the order (``Payment.pays_order`` false) is refunded for
nothing of it (``surplus``), whatever is said.

Units and amounts held by open requests (after-sales waiting for review, a return or the
refund) are not available to other refunds: claim sources (``claim_sources``, filled by
the after-sales app) say what they hold. The value of ``q`` units of a line is
``left × q ÷ units left`` rounded down, the last units getting the rest, where *left*
is what the line paid less what was refunded and what open requests hold; a line whose
whole amount is refunded has all its units refunded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _

from platform_core.money import format_money
from platform_core.parsing import as_id
from shop.orders.models import Order, OrderLine
from shop.payments.models import Payment, Refund, RefundLine

K = RefundLine.Kind
MAX_LINES = 200

# (units, amount) held per order line id (``None``: the shipping fee) by open requests
Claims = dict[int | None, tuple[int, int]]
# claim sources: (order, the claim not to count, e.g. "aftersale:12") → what open requests hold
claim_sources: list[Callable[[Order, str | None], Claims]] = []


@dataclass(frozen=True)
class RefundFor:
    """What a refund is for. ``lines``: (order line id, units, amount or None for the units'
    value); ``shipping``: fen of the shipping fee; ``goods``: an amount spread over the
    goods by the rule (the rest shipping); ``everything``: all the order has left.
    ``claim``: the open request this refund settles (its own hold is available to it)."""

    lines: tuple[tuple[int, int, int | None], ...] = ()
    shipping: int = 0
    goods: int | None = None
    everything: bool = False
    claim: str | None = None


@dataclass(frozen=True)
class Part:
    kind: str
    line_id: int | None
    amount: int
    quantity: int = 0


@dataclass
class LineLeft:
    line: OrderLine
    held_units: int = 0
    held_amount: int = 0

    @property
    def amount(self) -> int:
        return max(0, self.line.amount_paid - self.line.refunded_amount - self.held_amount)

    @property
    def units(self) -> int:
        return max(0, self.line.quantity - self.line.refunded_quantity - self.held_units)


@dataclass
class Refundable:
    """What an order has left to refund, per line and for shipping (open requests' holds
    taken out)."""

    order: Order
    lines: dict[int, LineLeft] = field(default_factory=dict)
    shipping: int = 0

    @property
    def goods(self) -> int:
        return sum(left.amount for left in self.lines.values())


def claims(order: Order, exclude: str | None = None) -> Claims:
    held: Claims = {}
    for source in claim_sources:
        for key, (units, amount) in source(order, exclude).items():
            had = held.get(key, (0, 0))
            held[key] = (had[0] + units, had[1] + amount)
    return held


def refundable(order: Order, held: Claims | None = None, *, exclude: str | None = None) -> Refundable:
    """What ``order`` has left to refund; ``held``: the open claims (read from the claim
    sources when not given)."""
    held = claims(order, exclude) if held is None else held
    found = Refundable(order=order)
    for line in order.lines.order_by("id"):
        units, amount = held.get(line.pk, (0, 0))
        found.lines[line.pk] = LineLeft(line, units, amount)
    shipping_held = held.get(None, (0, 0))[1]
    found.shipping = max(0, order.shipping_fee - order.shipping_refunded - shipping_held)
    return found


def unit_value(left: LineLeft, quantity: int) -> int:
    """What ``quantity`` more units of the line are worth: their share of what it has
    left, rounded down; the last units get the rest."""
    if quantity >= left.units:
        return left.amount
    return left.amount * quantity // left.units if left.units else 0


def _whole(left: LineLeft, amount: int, units: int) -> int:
    """A line whose whole amount goes back has all its free units go back too."""
    return left.units if amount and amount >= left.amount else units


def _goods_rule(found: Refundable, amount: int) -> list[Part]:
    from shop.pricing import allocate

    lefts = list(found.lines.values())
    goods = min(amount, found.goods)
    parts = []
    for left, share in zip(lefts, allocate(goods, [x.amount for x in lefts]), strict=True):
        if share:
            parts.append(Part(K.GOODS, left.line.pk, share, _whole(left, share, 0)))
    rest = amount - goods
    if rest > found.shipping:
        most = found.goods + found.shipping
        raise ValidationError(
            {
                "amount": [
                    _("At most %(most)s of this order's goods and shipping is left to refund.")
                    % {"most": format_money(most, found.order.currency)}
                ]
            }
        )
    if rest:
        parts.append(Part(K.SHIPPING, None, rest))
    return parts


def plan(payment: Payment, amount: int, refund_for: RefundFor | None = None) -> list[Part]:
    """The parts of a refund of ``amount`` from ``payment`` (with the order locked by the
    caller). Raises ValidationError naming the field at fault."""
    if not payment.pays_order:
        return [Part(K.SURPLUS, None, amount)]
    parts = _parts(payment, amount, refund_for or RefundFor(goods=amount))
    total = sum(p.amount for p in parts)
    if total != amount:
        raise ValidationError(
            {"amount": [_("What this refund is for comes to %(total)s.") % {"total": format_money(total)}]}
        )
    return parts


def what_for(payment: Payment, refund_for: RefundFor) -> list[Part]:
    """The parts ``refund_for`` comes to now (its total is the refund's amount); not for
    ``everything`` (whose amount is the payment's)."""
    if not payment.pays_order:
        raise ValidationError({"lines": [_("This payment never paid for the order: refund an amount of it.")]})
    return _parts(payment, refund_for.goods or 0, refund_for)


def _parts(payment: Payment, amount: int, spec: RefundFor) -> list[Part]:
    order = Order.objects.get(pk=payment.order_id)
    found = refundable(order, exclude=spec.claim)
    if spec.everything:
        parts = [
            Part(K.GOODS, left.line.pk, left.amount, left.units)
            for left in found.lines.values()
            if left.amount or left.units
        ]
        if found.shipping:
            parts.append(Part(K.SHIPPING, None, found.shipping))
        rest = amount - sum(p.amount for p in parts)
        if rest < 0:  # the payment has less left than the order: goods first, by the rule
            return _goods_rule(found, amount)
        if rest:
            parts.append(Part(K.SURPLUS, None, rest))
        return parts
    if spec.goods is not None:
        parts = _goods_rule(found, spec.goods)
    else:
        parts = _line_parts(found, spec.lines, shipping=bool(spec.shipping))
        if spec.shipping:
            if spec.shipping > found.shipping:
                raise ValidationError(
                    {
                        "shipping": [
                            _("At most %(left)s of the shipping fee is left to refund.")
                            % {"left": format_money(found.shipping, order.currency)}
                        ]
                    }
                )
            parts.append(Part(K.SHIPPING, None, spec.shipping))
    return parts


def _line_parts(found: Refundable, wanted: tuple[tuple[int, int, int | None], ...], *, shipping: bool) -> list[Part]:
    parts = []
    seen: set[int] = set()
    for line_id, units, amount in wanted:
        left = found.lines.get(line_id)
        if left is None:
            raise ValidationError({"lines": [_("Item %(id)s is not part of this order.") % {"id": line_id}]})
        if line_id in seen:
            raise ValidationError({"lines": [_("Each line may appear once.")]})
        seen.add(line_id)
        name = left.line.product_name
        if units > left.units:
            raise ValidationError(
                {"lines": [_("Only %(left)d of %(name)s can still be refunded.") % {"left": left.units, "name": name}]}
            )
        value = unit_value(left, units) if amount is None else amount
        if value > left.amount:
            raise ValidationError(
                {
                    "lines": [
                        _("At most %(left)s of %(name)s is left to refund.")
                        % {"left": format_money(left.amount, found.order.currency), "name": name}
                    ]
                }
            )
        if value or units:
            parts.append(Part(K.GOODS, line_id, value, _whole(left, value, units)))
    if not parts and not shipping:
        raise ValidationError({"lines": [_("Choose what to refund: units of a line, an amount, or the shipping.")]})
    return parts


def record(refund: Refund, parts: list[Part]) -> None:
    """Write the parts of ``refund`` and move the lines' and the order's refunded figures,
    each by an UPDATE that only matches while it still fits (in the refund's transaction:
    a refusal rolls everything back)."""
    RefundLine.objects.bulk_create(
        [
            RefundLine(refund=refund, kind=p.kind, order_line_id=p.line_id, amount=p.amount, quantity=p.quantity)
            for p in parts
        ]
    )
    order_id = Payment.objects.values_list("order_id", flat=True).get(pk=refund.payment_id)
    with connection.cursor() as cursor:
        for p in sorted((p for p in parts if p.kind == K.GOODS), key=lambda p: p.line_id or 0):
            cursor.execute(
                "UPDATE orders_orderline SET refunded_amount = refunded_amount + %s, "
                "refunded_quantity = refunded_quantity + %s WHERE id = %s AND order_id = %s "
                "AND refunded_amount + %s <= amount_paid AND refunded_quantity + %s <= quantity",
                [p.amount, p.quantity, p.line_id, order_id, p.amount, p.quantity],
            )
            if cursor.rowcount != 1:
                raise ValidationError({"lines": [_("This line has less left to refund now: look again.")]})
        shipping = sum(p.amount for p in parts if p.kind == K.SHIPPING)
        if shipping:
            cursor.execute(
                "UPDATE orders_order SET shipping_refunded = shipping_refunded + %s "
                "WHERE id = %s AND shipping_refunded + %s <= shipping_fee",
                [shipping, order_id, shipping],
            )
            if cursor.rowcount != 1:
                raise ValidationError({"shipping": [_("The shipping fee has less left to refund now: look again.")]})


def release(refund: Refund) -> None:
    """The provider refused ``refund``: its parts' amounts and units are refundable again
    (in the transaction that marks it failed)."""
    parts = list(RefundLine.objects.filter(refund=refund))
    with connection.cursor() as cursor:
        for p in sorted((p for p in parts if p.kind == K.GOODS), key=lambda p: p.order_line_id or 0):
            cursor.execute(
                "UPDATE orders_orderline SET refunded_amount = refunded_amount - %s, "
                "refunded_quantity = refunded_quantity - %s WHERE id = %s",
                [p.amount, p.quantity, p.order_line_id],
            )
        shipping = sum(p.amount for p in parts if p.kind == K.SHIPPING)
        if shipping:
            order_id = Payment.objects.values_list("order_id", flat=True).get(pk=refund.payment_id)
            cursor.execute(
                "UPDATE orders_order SET shipping_refunded = shipping_refunded - %s WHERE id = %s",
                [shipping, order_id],
            )


def split(parts: list[Part], amount: int) -> tuple[list[Part], list[Part]]:
    """The first ``amount`` fen of ``parts`` (for one payment) and the rest (for the next):
    a line split over two payments gives its units with its last piece."""
    head: list[Part] = []
    tail: list[Part] = []
    left = amount
    for p in parts:
        if left >= p.amount:
            head.append(p)
            left -= p.amount
        elif left > 0:
            head.append(Part(p.kind, p.line_id, left, 0))
            tail.append(Part(p.kind, p.line_id, p.amount - left, p.quantity))
            left = 0
        else:
            tail.append(p)
    return head, tail


def as_refund_for(parts: list[Part], claim: str | None = None) -> RefundFor:
    return RefundFor(
        lines=tuple((p.line_id, p.quantity, p.amount) for p in parts if p.kind == K.GOODS and p.line_id is not None),
        shipping=sum(p.amount for p in parts if p.kind == K.SHIPPING),
        claim=claim,
    )


# --- reading what the merchant or a client asked for -------------------------------------------
def parse_lines(raw: Any) -> tuple[tuple[int, int, int | None], ...]:
    """[{line, quantity, amount?}] from a client (fen, whole numbers) → RefundFor.lines."""
    if raw in (None, ""):
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_LINES:
        raise ValidationError({"lines": [_("Give a list of the order's lines to refund.")]})
    out: list[tuple[int, int, int | None]] = []
    for item in raw:
        line = as_id(item.get("line")) if isinstance(item, dict) else None
        if line is None:
            raise ValidationError({"lines": [_("Each item needs the id of one of the order's lines.")]})
        quantity = item.get("quantity", 0)
        amount = item.get("amount")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 <= quantity <= 100_000:
            raise ValidationError({"lines": [_("A quantity is a whole number, 0 or more.")]})
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 0):
            raise ValidationError({"lines": [_("An amount is a whole number of fen, 0 or more.")]})
        if quantity or amount:
            out.append((line, quantity, amount))
    return tuple(out)


def describe_parts(parts: list[RefundLine], lines: dict[int, OrderLine]) -> str:
    """One line for people: "Tea ×1 ¥12.00 · shipping ¥8.00"."""
    out = []
    for p in parts:
        if p.kind == K.GOODS and p.order_line_id in lines:
            name = lines[p.order_line_id].product_name
            units = f" ×{p.quantity}" if p.quantity else ""
            out.append(f"{name}{units} {format_money(p.amount)}")
        elif p.kind == K.SHIPPING:
            out.append(_("shipping %(amount)s") % {"amount": format_money(p.amount)})
        else:
            out.append(_("not for the order %(amount)s") % {"amount": format_money(p.amount)})
    return " · ".join(out)
