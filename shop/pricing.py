"""The one pricing pipeline: cart, checkout, order creation and the API all price through
``price_lines``. Stages, in order:

1. SKU price (what the catalogue says now; ``list_price`` kept for display);
2. one activity per line (``LineIn.activity``). Which activity a line gets is decided by
   the marketing module before it calls this function, by this priority (the first that
   applies wins; at most one per line):

   1. group price (拼团) — only in a group-buying order (later);
   2. flash sale (秒杀) — a session of the SKU running now (later);
   3. limited-time discount (限时折扣) — the lowest price among those running now;

   An activity only ever lowers the price (an activity price at or above the SKU price is
   ignored). ``shop.marketing.selectors.activity_offers`` is the hook where flash sales and
   group prices plug in;
3. order-level promotions (满减 fixed amount off / 满折 percent off, by tiers): of the
   promotions running, the one that takes most off applies, on the lines it covers, over
   their value after activities;
4. coupon (one per order): on the lines in its scope (and, unless it combines with
   activities, only on lines without an activity), over their value after activities and
   promotions; its minimum spend is measured on that same value. A free-shipping coupon
   takes stage 5's fee off instead;
5. shipping (by the shop's template and the delivery region, or 0 for store pickup; the
   template's free-shipping threshold is applied by the caller);
6. payable.

Order-level discounts are allocated to lines in integer fen by largest remainder
(``allocate``) over each line's remaining value, so the shares sum exactly to the discount
and no line is charged below zero; each line then knows exactly what the buyer paid for
it — the distribution engine's commission base. Pure functions over integers: no floats,
no database, the same input always gives the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

PERCENT = 100


@dataclass(frozen=True)
class Activity:
    """The activity price of one line (chosen by the marketing module)."""

    kind: str  # "limited_time" (later: "flash_sale", "group")
    id: int
    unit_price: int  # fen, what one unit costs during the activity


@dataclass(frozen=True)
class PromotionTier:
    threshold: int  # fen: from this value of the covered lines …
    amount_off: int = 0  # … take this many fen off (满减)
    percent_off: int = 0  # … or this percent off (满折), rounded down to the fen


@dataclass(frozen=True)
class Promotion:
    id: int
    name: str
    tiers: tuple[PromotionTier, ...]
    sku_ids: frozenset[int] | None = None  # the lines it covers; None: all

    def discount_on(self, base: int) -> int:
        """What the best tier reached by ``base`` takes off (never more than ``base``)."""
        best = 0
        for tier in self.tiers:
            if base >= tier.threshold:
                off = tier.amount_off + base * tier.percent_off // PERCENT
                best = max(best, off)
        return min(best, base)


@dataclass(frozen=True)
class Coupon:
    id: int
    kind: str  # "fixed" | "percent" | "free_shipping"
    amount: int = 0  # fixed: fen off
    percent_off: int = 0  # percent: 1–99
    max_discount: int | None = None  # percent: the cap, fen
    min_spend: int = 0
    sku_ids: frozenset[int] | None = None  # the lines in its scope; None: all
    combines_with_activities: bool = True


@dataclass
class LineIn:
    sku_id: int
    quantity: int
    unit_price: int  # fen, the SKU's current price
    list_price: int | None = None
    activity: Activity | None = None


@dataclass
class LinePriced:
    sku_id: int
    quantity: int
    unit_price: int
    list_price: int | None
    activity_discount: int = 0  # whole line, fen
    promotion_share: int = 0
    coupon_share: int = 0
    activity: Activity | None = None

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity

    @property
    def amount_paid(self) -> int:
        return self.subtotal - self.activity_discount - self.promotion_share - self.coupon_share


@dataclass
class Priced:
    lines: list[LinePriced]
    shipping: int = 0  # what the buyer pays for shipping (after a free-shipping coupon)
    steps: list[tuple[str, int]] = field(default_factory=list)
    shipping_before: int = 0  # the fee before a free-shipping coupon
    promotion: Promotion | None = None  # the promotion applied, if any
    coupon: Coupon | None = None  # the coupon asked for
    coupon_applied: bool = False
    # why the coupon asked for does not apply: "scope" (no line it covers), "min_spend"
    coupon_problem: str | None = None

    @property
    def goods_total(self) -> int:
        return sum(line.subtotal for line in self.lines)

    @property
    def activity_total(self) -> int:
        return sum(line.activity_discount for line in self.lines)

    @property
    def promotion_total(self) -> int:
        return sum(line.promotion_share for line in self.lines)

    @property
    def coupon_total(self) -> int:
        return sum(line.coupon_share for line in self.lines)

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


def coupon_discount(coupon: Coupon, base: int) -> int:
    """What ``coupon`` takes off goods worth ``base`` (0 for free shipping)."""
    if coupon.kind == "fixed":
        off = coupon.amount
    elif coupon.kind == "percent":
        off = base * coupon.percent_off // PERCENT
        if coupon.max_discount is not None:
            off = min(off, coupon.max_discount)
    else:
        off = 0
    return max(0, min(off, base))


def _covered(sku_ids: frozenset[int] | None, line: LinePriced) -> bool:
    return sku_ids is None or line.sku_id in sku_ids


def _spread(lines: list[LinePriced], covered: list[bool], amount: int, attribute: str) -> None:
    weights = [line.amount_paid if ok else 0 for line, ok in zip(lines, covered, strict=True)]
    for line, share in zip(lines, allocate(amount, weights), strict=True):
        setattr(line, attribute, getattr(line, attribute) + share)


def price_lines(
    lines: Sequence[LineIn],
    *,
    shipping: int = 0,
    promotions: Sequence[Promotion] = (),
    coupon: Coupon | None = None,
) -> Priced:
    priced = []
    for line in lines:
        out = LinePriced(line.sku_id, line.quantity, line.unit_price, line.list_price)
        activity = line.activity
        if activity is not None and 0 <= activity.unit_price < line.unit_price:
            out.activity = activity
            out.activity_discount = (line.unit_price - activity.unit_price) * line.quantity
        priced.append(out)
    result = Priced(lines=priced, shipping=shipping, shipping_before=shipping, coupon=coupon)

    # order-level promotions: the one that takes most off (ties: the lower id)
    best: tuple[int, int, Promotion] | None = None
    for promotion in promotions:
        base = sum(line.amount_paid for line in priced if _covered(promotion.sku_ids, line))
        off = promotion.discount_on(base)
        if off > 0 and (best is None or (-off, promotion.id) < (-best[0], best[1])):
            best = (off, promotion.id, promotion)
    if best is not None:
        off, _id, promotion = best
        result.promotion = promotion
        _spread(priced, [_covered(promotion.sku_ids, line) for line in priced], off, "promotion_share")

    # the coupon
    if coupon is not None:
        covered = [
            _covered(coupon.sku_ids, line) and (coupon.combines_with_activities or line.activity is None)
            for line in priced
        ]
        base = sum(line.amount_paid for line, ok in zip(priced, covered, strict=True) if ok)
        if not any(covered):
            result.coupon_problem = "scope"
        elif base < coupon.min_spend:
            result.coupon_problem = "min_spend"
        else:
            result.coupon_applied = True
            if coupon.kind == "free_shipping":
                result.shipping = 0
            else:
                _spread(priced, covered, coupon_discount(coupon, base), "coupon_share")

    result.steps = [
        ("goods", result.goods_total),
        ("activity", -result.activity_total),
        ("promotion", -result.promotion_total),
        ("coupon", -result.coupon_total),
        ("shipping", result.shipping_before),
        ("free_shipping", result.shipping - result.shipping_before),
        ("payable", result.payable),
    ]
    return result
