"""The one pricing pipeline: cart, checkout, order creation and the API all price through
``price_lines``. Stages, in order:

1. SKU price (what the catalogue says now; ``list_price`` kept for display);
2. one activity per line (limited-time discount, flash sale, group price) — hook for the
   marketing module, none yet;
3. order-level promotions (满减 / 满折) — hook, none yet;
4. coupon — hook, none yet;
5. shipping (by the shop's template and the delivery region, or 0 for store pickup);
6. payable.

Order-level discounts are allocated to lines in integer fen by largest remainder
(``allocate``), so each line knows exactly what the buyer paid for it — the distribution
engine's commission base. Pure functions over integers: no floats, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LineIn:
    sku_id: int
    quantity: int
    unit_price: int  # fen, the SKU's current price
    list_price: int | None = None


@dataclass
class LinePriced:
    sku_id: int
    quantity: int
    unit_price: int
    list_price: int | None
    activity_discount: int = 0  # whole line, fen
    promotion_share: int = 0
    coupon_share: int = 0

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity

    @property
    def amount_paid(self) -> int:
        return self.subtotal - self.activity_discount - self.promotion_share - self.coupon_share


@dataclass
class Priced:
    lines: list[LinePriced]
    shipping: int = 0
    steps: list[tuple[str, int]] = field(default_factory=list)

    @property
    def goods_total(self) -> int:
        return sum(line.subtotal for line in self.lines)

    @property
    def discount_total(self) -> int:
        return sum(line.activity_discount + line.promotion_share + line.coupon_share for line in self.lines)

    @property
    def payable(self) -> int:
        return sum(line.amount_paid for line in self.lines) + self.shipping


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split ``amount`` fen over lines in proportion to ``weights`` (their remaining value),
    by largest remainder: the shares sum exactly to ``amount`` and no share exceeds its
    weight. Ties go to the earlier line (deterministic)."""
    total = sum(weights)
    if amount < 0 or any(w < 0 for w in weights):
        raise ValueError("amounts and weights are never negative")
    if amount > total:
        raise ValueError("cannot allocate more than the lines are worth")
    if amount == 0 or total == 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in remainders[: amount - sum(shares)]:
        shares[i] += 1
    return shares


def price_lines(lines: list[LineIn], *, shipping: int = 0) -> Priced:
    priced = [LinePriced(line.sku_id, line.quantity, line.unit_price, line.list_price) for line in lines]
    result = Priced(lines=priced, shipping=shipping)
    result.steps = [("goods", result.goods_total), ("discounts", -result.discount_total), ("shipping", shipping)]
    result.steps.append(("payable", result.payable))
    return result
