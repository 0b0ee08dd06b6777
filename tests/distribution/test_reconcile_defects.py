"""The three defects of the money audit (issue 13), each with its reproduction in fen:
commission must follow the money that actually went back for each order line, and the
reconciliation verifier must report a history where it does not."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import in_shop
from tests.distribution import money
from tests.distribution.conftest import balances, bound_buyer, configure, distributor, lines_of, sound

pytestmark = pytest.mark.django_db


def _defect_1(alpha: Any, deliver: Any) -> tuple[Any, Any]:
    """tea ×1 paid 11758 (20% product rate → 2351) + cup ×2 paid 3808 (→ 380), shipping 800:
    an offline payment of 16366 confirmed, then a card payment of 16366 succeeds too."""
    configure(alpha, rate_level1_bp=1000, hold_days=0)
    tea, cup = money.skus(alpha, ("Tea", 11758), ("Cup", 1904))
    money.product_rates(alpha, {tea: 2000})
    money.shipping(alpha, 800)
    sharer = distributor(alpha)
    placed = money.order(alpha, bound_buyer(alpha, sharer), [(tea, 1), (cup, 2)])
    assert placed.payable == 16366
    money.start_card_payment(alpha, placed)
    money.confirm_offline(alpha, placed, deliver)
    assert [line.amount for line in lines_of(alpha, placed)] == [2351, 380]
    assert balances(alpha, sharer)["pending"] == 2731
    money.duplicate_card_payment(alpha, placed, deliver)
    return sharer, placed


def _defect_2(alpha: Any, deliver: Any) -> tuple[Any, Any]:
    """tea ×2 paid 5332 (10% → 533) + teapot 888 at a 0% product rate, shipping 800; the
    merchant refunds 30.00, then 32.20 from the order page: all 6220 of the goods."""
    configure(alpha, rate_level1_bp=1000, hold_days=0)
    tea, teapot = money.skus(alpha, ("Tea", 2666), ("Teapot", 888))
    money.product_rates(alpha, {teapot: 0})
    money.shipping(alpha, 800)
    sharer = distributor(alpha)
    placed = money.confirm_offline(
        alpha, money.order(alpha, bound_buyer(alpha, sharer), [(tea, 2), (teapot, 1)]), deliver
    )
    assert money.paid_lines(alpha, placed) == [("Tea", 2, 5332), ("Teapot", 1, 888)]
    assert [line.amount for line in lines_of(alpha, placed)] == [533]
    money.order_page_refund(alpha, placed, "30.00", deliver)
    money.order_page_refund(alpha, placed, "32.20", deliver)
    return sharer, placed


def _defect_3(alpha: Any, deliver: Any) -> tuple[Any, Any, Any]:
    """cup ×1 paid 1812 + tea ×2 paid 22377, shipping 800: the merchant refunds 15.00 from
    the order page, then the buyer's after-sale for the cup is approved and refunded."""
    from shop.aftersales import services as aftersales
    from tests.aftersales.conftest import reason_id

    configure(alpha, rate_level1_bp=2000, hold_days=0)
    cup, tea = money.skus(alpha, ("Cup", 1812), ("Tea", 11190))
    money.reduction(alpha, 100, 3)  # 3 fen off, allocated to the tea line
    money.shipping(alpha, 800)
    sharer = distributor(alpha)
    buyer = bound_buyer(alpha, sharer)
    placed = money.confirm_offline(alpha, money.order(alpha, buyer, [(cup, 1), (tea, 2)]), deliver)
    assert money.paid_lines(alpha, placed) == [("Cup", 1, 1812), ("Tea", 2, 22377)]
    money.order_page_refund(alpha, placed, "15.00", deliver)
    rid = reason_id(alpha)
    with in_shop(alpha):
        cup_line = placed.lines.order_by("id").first()
        with deliver():
            asked = aftersales.aftersale_request(
                buyer, placed, {"kind": "refund_only", "reason": rid, "lines": [{"line": cup_line.pk, "quantity": 1}]}
            )
            aftersales.aftersale_approve(asked, actor="staff:1")
            aftersales.aftersale_refund(asked, actor="staff:1", reference="bank transfer 2")
        asked.refresh_from_db()
    return sharer, placed, asked


# --- before the fix: the verifier reports each of them -----------------------------------------
def test_verifier_reports_a_duplicate_refund_that_reversed_the_commission(alpha: Any, deliver_events: Any) -> None:
    _sharer, placed = _defect_1(alpha, deliver_events)
    found = money.findings(alpha)
    reversal = [f for f in found if f["code"] == "commission_reversal"]
    assert [(f["figures"]["taken"], f["figures"]["expected"]) for f in reversal] == [(2351, 0), (380, 0)]
    sound(alpha)  # the ledger itself balances: only the reconciliation sees it


def test_verifier_reports_the_share_left_on_a_line_without_commission(alpha: Any, deliver_events: Any) -> None:
    _defect_2(alpha, deliver_events)
    found = money.findings(alpha)
    assert money.codes(found) == ["commission_reversal"]
    (tea,) = found
    assert (tea["figures"]["taken"], tea["figures"]["expected"], tea["figures"]["refunded"]) == (500, 533, 5332)


def test_verifier_reports_an_aftersale_that_refunded_a_line_twice(alpha: Any, deliver_events: Any) -> None:
    _defect_3(alpha, deliver_events)
    found = money.findings(alpha)
    over = [f for f in found if f["code"] == "line_over_refunded"]
    assert [(f["figures"]["paid"], f["figures"]["refunded"]) for f in over] == [(1812, 1924)]
