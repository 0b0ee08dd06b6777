"""The pricing pipeline with activities, promotions and coupons (pure, no database): over
random carts (hypothesis) the shares sum exactly, no line is charged below zero, payable
is never negative, the same input gives the same result; and worked examples by hand."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shop.pricing import Activity, Coupon, LineIn, Promotion, PromotionTier, coupon_discount, price_lines


@st.composite
def carts(draw: st.DrawFn) -> tuple[list[LineIn], list[Promotion], Coupon | None, int]:
    n = draw(st.integers(1, 12))
    lines = []
    for sku in range(1, n + 1):
        price = draw(st.integers(0, 1_000_000))
        activity = None
        if draw(st.booleans()):
            activity = Activity("limited_time", draw(st.integers(1, 3)), draw(st.integers(0, 1_200_000)))
        lines.append(LineIn(sku, draw(st.integers(1, 50)), price, None, activity))
    promotions = []
    for pid in range(1, draw(st.integers(0, 3)) + 1):
        tiers = tuple(
            PromotionTier(
                threshold=draw(st.integers(0, 5_000_000)),
                amount_off=draw(st.integers(0, 5_000_000)),
                percent_off=draw(st.integers(0, 99)),
            )
            for _ in range(draw(st.integers(1, 3)))
        )
        scope = draw(st.none() | st.frozensets(st.integers(1, n)))
        promotions.append(Promotion(pid, f"p{pid}", tiers, sku_ids=scope))
    coupon = None
    if draw(st.booleans()):
        coupon = Coupon(
            id=1,
            kind=draw(st.sampled_from(["fixed", "percent", "free_shipping"])),
            amount=draw(st.integers(0, 10_000_000)),
            percent_off=draw(st.integers(1, 99)),
            max_discount=draw(st.none() | st.integers(0, 1_000_000)),
            min_spend=draw(st.integers(0, 3_000_000)),
            sku_ids=draw(st.none() | st.frozensets(st.integers(1, n))),
            combines_with_activities=draw(st.booleans()),
        )
    return lines, promotions, coupon, draw(st.integers(0, 100_000))


@settings(max_examples=400, deadline=None)
@given(cart=carts())
def test_every_order_level_discount_is_shared_out_exactly_and_no_line_goes_below_zero(
    cart: tuple[list[LineIn], list[Promotion], Coupon | None, int],
) -> None:
    lines, promotions, coupon, shipping = cart
    priced = price_lines(lines, shipping=shipping, promotions=promotions, coupon=coupon)
    again = price_lines(lines, shipping=shipping, promotions=promotions, coupon=coupon)
    assert [vars(x) for x in priced.lines] == [vars(x) for x in again.lines]  # deterministic
    assert priced.payable == again.payable >= 0
    for line in priced.lines:
        assert line.amount_paid >= 0
        assert min(line.activity_discount, line.promotion_share, line.coupon_share) >= 0
    # the promotion applied takes exactly its tier's discount, shared out over its lines
    if priced.promotion is not None:
        covered = [p for p in priced.lines if priced.promotion.sku_ids is None or p.sku_id in priced.promotion.sku_ids]
        base = sum(p.subtotal - p.activity_discount for p in covered)
        assert priced.promotion_total == priced.promotion.discount_on(base) > 0
        assert all(p.promotion_share == 0 for p in priced.lines if p not in covered)
    else:
        assert priced.promotion_total == 0
    # the coupon: shared over the lines it covers, exactly what it is worth on them
    if coupon is not None and priced.coupon_applied and coupon.kind != "free_shipping":
        covered = [
            p
            for p in priced.lines
            if (coupon.sku_ids is None or p.sku_id in coupon.sku_ids)
            and (coupon.combines_with_activities or p.activity is None)
        ]
        base = sum(p.subtotal - p.activity_discount - p.promotion_share for p in covered)
        assert base >= coupon.min_spend
        assert priced.coupon_total == coupon_discount(coupon, base)
        assert all(p.coupon_share == 0 for p in priced.lines if p not in covered)
    else:
        assert priced.coupon_total == 0
    assert priced.shipping == (0 if coupon and coupon.kind == "free_shipping" and priced.coupon_applied else shipping)
    # what the lines paid plus shipping is the payable, and the steps add up to it
    assert sum(p.amount_paid for p in priced.lines) + priced.shipping == priced.payable
    assert sum(amount for name, amount in priced.steps[:-1]) == priced.payable
    assert priced.steps[-1] == ("payable", priced.payable)
    assert priced.discount_total == priced.goods_total - sum(p.amount_paid for p in priced.lines)


def test_a_worked_order_by_hand() -> None:
    """Tea ¥99 × 2 at a limited-time ¥79, cups ¥30 × 1: 满 ¥150 减 ¥20, then a ¥10 coupon
    from ¥100 that does not combine with activities (so only the cups count: not enough)."""
    lines = [
        LineIn(1, 2, 9900, None, Activity("limited_time", 7, 7900)),
        LineIn(2, 1, 3000),
    ]
    promotion = Promotion(1, "满150减20", (PromotionTier(15000, amount_off=2000), PromotionTier(30000, 5000)))
    picky = Coupon(1, "fixed", amount=1000, min_spend=10000, combines_with_activities=False)
    priced = price_lines(lines, shipping=800, promotions=[promotion], coupon=picky)
    assert [line.activity_discount for line in priced.lines] == [4000, 0]
    # ¥20 over the remaining ¥158 and ¥30, by largest remainder
    assert [line.promotion_share for line in priced.lines] == [1681, 319]
    assert not priced.coupon_applied and priced.coupon_problem == "min_spend"
    assert priced.payable == 15800 + 3000 - 2000 + 800

    broad = Coupon(2, "percent", percent_off=10, max_discount=1500, min_spend=10000)
    priced = price_lines(lines, shipping=800, promotions=[promotion], coupon=broad)
    assert priced.coupon_applied and priced.coupon_total == 1500  # 10% of ¥168 capped at ¥15
    assert sum(line.coupon_share for line in priced.lines) == 1500
    assert priced.payable == 15800 + 3000 - 2000 - 1500 + 800
    assert [name for name, _amount in priced.steps] == [
        "goods",
        "activity",
        "promotion",
        "coupon",
        "shipping",
        "free_shipping",
        "payable",
    ]

    free = Coupon(3, "free_shipping", min_spend=0)
    priced = price_lines(lines, shipping=800, coupon=free)
    assert priced.shipping == 0 and priced.shipping_before == 800
    assert priced.payable == 15800 + 3000


def test_the_best_promotion_applies_and_an_activity_never_raises_a_price() -> None:
    lines = [LineIn(1, 1, 10000, None, Activity("limited_time", 1, 12000))]
    small = Promotion(1, "满100减5", (PromotionTier(10000, amount_off=500),))
    big = Promotion(2, "满100打9折", (PromotionTier(10000, percent_off=10),))
    priced = price_lines(lines, promotions=[small, big])
    assert priced.lines[0].activity_discount == 0 and priced.lines[0].activity is None
    assert priced.promotion is big and priced.promotion_total == 1000


def test_a_fixed_coupon_worth_more_than_the_goods_takes_them_to_zero_not_below() -> None:
    priced = price_lines([LineIn(1, 1, 300), LineIn(2, 1, 200)], shipping=500, coupon=Coupon(1, "fixed", amount=9999))
    assert [line.amount_paid for line in priced.lines] == [0, 0]
    assert priced.payable == 500


def test_a_coupon_scoped_to_products_not_in_the_order_does_not_apply() -> None:
    priced = price_lines([LineIn(1, 1, 300)], coupon=Coupon(1, "fixed", amount=100, sku_ids=frozenset({2})))
    assert priced.coupon_problem == "scope" and priced.payable == 300
