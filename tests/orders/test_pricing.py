"""The pricing pipeline's arithmetic, over random carts (hypothesis): allocations sum
exactly, no line is charged below zero, the same input always gives the same result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop.pricing import LineIn, allocate, price_lines

weights = st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=30)


@settings(max_examples=400, deadline=None)
@given(weights=weights, data=st.data())
def test_allocation_sums_exactly_and_never_exceeds_a_line(weights: list[int], data: st.DataObject) -> None:
    amount = data.draw(st.integers(min_value=0, max_value=sum(weights)))
    shares = allocate(amount, weights)
    assert sum(shares) == amount
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))
    assert shares == allocate(amount, list(weights))  # deterministic
    # proportional to within one fen of the exact share
    total = sum(weights)
    if total:
        assert all(abs(share * total - amount * weight) < total for share, weight in zip(shares, weights, strict=True))


def test_largest_remainder_by_hand() -> None:
    assert allocate(100, [300, 300, 300]) == [34, 33, 33]  # ties go to the earlier line
    assert allocate(1000, [2000, 3000, 5000]) == [200, 300, 500]
    assert allocate(7, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]) == [1] * 7 + [0] * 3
    assert allocate(10, [0, 5, 5]) == [0, 5, 5]
    assert allocate(0, [3, 4]) == [0, 0]
    with pytest.raises(ValueError):
        allocate(11, [5, 5])
    with pytest.raises(ValueError):
        allocate(-1, [5])


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.tuples(st.integers(1, 10**6), st.integers(1, 999), st.integers(0, 10_000_000)), min_size=1, max_size=20
    ),
    shipping=st.integers(0, 100_000),
)
def test_payable_is_goods_plus_shipping_and_lines_pay_their_subtotal(
    lines: list[tuple[int, int, int]], shipping: int
) -> None:
    priced = price_lines([LineIn(sku, qty, price) for sku, qty, price in lines], shipping=shipping)
    assert priced.payable == sum(qty * price for _sku, qty, price in lines) + shipping
    assert all(line.amount_paid == line.subtotal >= 0 for line in priced.lines)
    assert priced.steps[-1] == ("payable", priced.payable)
