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


# --- the regressions: commission follows the money back for each line ---------------------
def test_a_duplicate_payments_refund_takes_no_commission_back(alpha: Any, deliver_events: Any) -> None:
    from shop.payments.models import Payment

    sharer, placed = _defect_1(alpha, deliver_events)
    assert [line.reversed_amount for line in lines_of(alpha, placed)] == [0, 0]
    assert balances(alpha, sharer)["pending"] == 2731
    with in_shop(alpha):
        duplicate = Payment.objects.get(order=placed, provider="stripe")
        assert (duplicate.pays_order, duplicate.refunded_amount) == (False, 16366)
        assert [(p.kind, p.amount) for p in duplicate.refunds.get().parts.all()] == [("surplus", 16366)]
        assert list(placed.lines.values_list("refunded_amount", flat=True)) == [0, 0]
    assert money.findings(alpha) == []
    sound(alpha)


def test_lines_without_commission_keep_their_share_of_refunds(alpha: Any, deliver_events: Any) -> None:
    sharer, placed = _defect_2(alpha, deliver_events)
    with in_shop(alpha):
        assert list(placed.lines.order_by("id").values_list("refunded_amount", "refunded_quantity")) == [
            (5332, 2),
            (888, 1),
        ]
    (tea,) = lines_of(alpha, placed)
    assert (tea.refunded_base, tea.reversed_amount, tea.status) == (5332, 533, "reversed")
    assert balances(alpha, sharer)["pending"] == 0  # nothing left to settle
    assert money.findings(alpha) == []
    sound(alpha)


def test_an_aftersale_counts_the_earlier_order_page_refund(alpha: Any, deliver_events: Any) -> None:
    from distribution.settlement import taken_back

    _sharer, placed, asked = _defect_3(alpha, deliver_events)
    assert (asked.status, asked.refund_amount) == ("refunded", 1700)  # 1812 paid, 112 already back
    with in_shop(alpha):
        assert list(placed.lines.order_by("id").values_list("refunded_amount", "refunded_quantity")) == [
            (1812, 1),
            (1388, 0),
        ]
    cup, tea = lines_of(alpha, placed)
    assert (cup.refunded_base, cup.reversed_amount, cup.status) == (1812, cup.amount, "reversed")
    assert (tea.refunded_base, tea.reversed_amount) == (1388, taken_back(tea.amount, 1388, 22377))
    assert money.findings(alpha) == []
    sound(alpha)


# --- the verifier reports each defect's effect --------------------------------------------------
def test_verifier_reports_commission_taken_back_for_a_duplicate_refund(
    alpha: Any, deliver_events: Any, monkeypatch: Any
) -> None:
    """The old effect: any refund of the order counted as a refund of its goods."""
    from shop.payments import selectors

    def every_refund_is_for_the_goods(order_line_ids: Any) -> dict[int, int]:
        from shop.orders.models import OrderLine

        return dict(
            OrderLine.objects.filter(pk__in=list(order_line_ids), order__payments__refunds__isnull=False)
            .distinct()
            .values_list("pk", "amount_paid")
        )

    monkeypatch.setattr(selectors, "refunded_back", every_refund_is_for_the_goods)
    monkeypatch.setattr(
        selectors, "refund_goods_lines", lambda refund: list(refund.payment.order.lines.values_list("pk", flat=True))
    )
    _defect_1(alpha, deliver_events)
    found = money.findings(alpha)
    assert money.codes(found) == ["commission_reversal"]
    assert [(f["figures"]["taken"], f["figures"]["expected"]) for f in found] == [(2351, 0), (380, 0)]
    sound(alpha)  # the ledger itself balances: only the reconciliation sees it


def test_verifier_reports_commission_left_standing_on_a_fully_refunded_line(
    alpha: Any, deliver_events: Any, monkeypatch: Any
) -> None:
    """The old effect: the tea line's refunds rebuilt as 5008 of its 5332."""
    from shop.payments import selectors

    real = selectors.refunded_back
    monkeypatch.setattr(
        selectors, "refunded_back", lambda ids: {k: (5008 if v == 5332 else v) for k, v in real(ids).items()}
    )
    _defect_2(alpha, deliver_events)
    found = money.findings(alpha)
    assert money.codes(found) == ["commission_reversal"]
    (tea,) = found
    assert (tea["figures"]["taken"], tea["figures"]["expected"], tea["figures"]["refunded"]) == (500, 533, 5332)


def test_verifier_reports_a_line_refunded_beyond_what_it_paid(alpha: Any, deliver_events: Any) -> None:
    """The old effect: the after-sale's 1812 for the cup on top of the 112 already back."""
    from shop.payments.models import RefundLine

    _sharer, placed, asked = _defect_3(alpha, deliver_events)
    with in_shop(alpha):
        refund = asked.refunds.get()
        cup = placed.lines.order_by("id").first()
        RefundLine.objects.create(refund=refund, kind="goods", order_line=cup, amount=112)
    found = money.findings(alpha)
    over = [f for f in found if f["code"] == "line_over_refunded"]
    assert [(f["figures"]["paid"], f["figures"]["refunded"]) for f in over] == [(1812, 1924)]
    assert money.codes(found) == ["line_over_refunded", "line_refunds_differ", "refund_parts_differ"]
