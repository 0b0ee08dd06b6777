"""A clawback that leaves a distributor in debt while a withdrawal is requested or approved:
paying it out needs the merchant's explicit decision — reduce it by the debt, hold it
until the debt is repaid, or pay anyway with a reason — each audited; the withdrawal
queue shows the debt."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from tests.conftest import english, in_shop, owner_client
from tests.distribution import money
from tests.distribution.conftest import (
    balances,
    bound_buyer,
    complete,
    configure,
    distributor,
    pay,
    refund_lines,
    sound,
)

pytestmark = pytest.mark.django_db
BANK = {"method": "bank", "account_details": {"account_number": "6222"}}


def _owing(tenant: Any, deliver: Any, withdraw: int = 700) -> tuple[Any, Any, Any]:
    """1000 settled, ``withdraw`` of it requested and approved, then the order refunded in
    full: 1000 clawed back, of which only what was left available is covered."""
    from distribution import settlement, withdrawals

    configure(
        tenant,
        levels=1,
        rate_level1_bp=1000,
        hold_days=0,
        withdrawal_minimum=100,
        withdrawal_fee_bp=100,
        withdrawal_methods=["shop_balance", "bank"],
    )
    sharer = distributor(tenant)
    buyer = bound_buyer(tenant, sharer)
    order = pay(tenant, buyer, [(10_000, 1)], deliver)
    complete(tenant, order)
    with in_shop(tenant):
        assert settlement.settle_due() == 1
        w = withdrawals.withdrawal_request(sharer, {"amount": withdraw, **BANK})
        withdrawals.withdrawal_review(w, approve=True, actor="staff:1")
        (line,) = order.lines.values_list("pk", flat=True)
    refund_lines(tenant, order, [(line, 10_000)], deliver)
    assert balances(tenant, sharer)["clawback_debt"] == -withdraw
    return sharer, buyer, w


def _decisions(tenant: Any, w: Any) -> list[tuple[str, int, int, int, str]]:
    from distribution.models import WithdrawalDecision

    with in_shop(tenant):
        return list(
            WithdrawalDecision.objects.filter(withdrawal=w).values_list(
                "decision", "debt", "amount_before", "amount_after", "reason"
            )
        )


def test_paying_needs_a_decision_and_pay_anyway_needs_a_reason(alpha: Any, deliver_events: Any) -> None:
    from distribution import withdrawals

    sharer, _buyer, w = _owing(alpha, deliver_events)
    with in_shop(alpha):
        with pytest.raises(ValidationError) as refused:
            withdrawals.withdrawal_paid(w, reference="BANK-1", actor="staff:1")
        assert "debt" in refused.value.message_dict
        with pytest.raises(ValidationError) as no_reason:
            withdrawals.withdrawal_debt_decide(w, decision="pay_anyway", reason=" ", actor="staff:1")
        assert list(no_reason.value.message_dict) == ["reason"]
        withdrawals.withdrawal_debt_decide(w, decision="pay_anyway", reason="agreed by phone", actor="staff:1")
        paid = withdrawals.withdrawal_paid(w, reference="BANK-1", actor="staff:1")
    assert paid.status == "paid"
    assert _decisions(alpha, w) == [("pay_anyway", 700, 700, 700, "agreed by phone")]
    b = balances(alpha, sharer)
    assert (b["paid_out"], b["clawback_debt"]) == (693, -700)  # paid net of the 1% fee; still owed
    assert money.findings(alpha) == []
    sound(alpha)


def test_reduce_by_the_debt_repays_it_from_the_withdrawal(alpha: Any, deliver_events: Any) -> None:
    from distribution import settlement, withdrawals
    from tests.distribution.conftest import pay as pay_order

    sharer, buyer, w = _owing(alpha, deliver_events, withdraw=700)
    # a second order settles: 500 of it repays the debt first, 200 of debt left
    second = pay_order(alpha, buyer, [(5_000, 1)], deliver_events)
    complete(alpha, second)
    with in_shop(alpha):
        settlement.settle_due()
    assert balances(alpha, sharer)["clawback_debt"] == -200
    with in_shop(alpha):
        reduced = withdrawals.withdrawal_debt_decide(w, decision="reduce", reason="", actor="staff:1")
        assert (reduced.status, reduced.amount, reduced.fee) == ("approved", 500, 5)
        paid = withdrawals.withdrawal_paid(w, reference="BANK-2", actor="staff:1")  # no debt left: paid
    assert paid.status == "paid"
    b = balances(alpha, sharer)
    assert (b["clawback_debt"], b["withdrawing"], b["paid_out"]) == (0, 0, 495)
    assert _decisions(alpha, w) == [("reduce", 200, 700, 500, "")]
    assert money.findings(alpha) == []
    sound(alpha)


def test_reduced_to_nothing_the_withdrawal_ends_rejected(alpha: Any, deliver_events: Any) -> None:
    from distribution import withdrawals

    sharer, _buyer, w = _owing(alpha, deliver_events, withdraw=700)
    with in_shop(alpha):
        done = withdrawals.withdrawal_debt_decide(w, decision="reduce", reason="", actor="staff:1")
    assert (done.status, done.amount, done.fee) == ("rejected", 0, 0)
    b = balances(alpha, sharer)
    assert (b["clawback_debt"], b["withdrawing"], b["available"]) == (0, 0, 0)
    assert money.findings(alpha) == []
    sound(alpha)


def test_held_until_later_earnings_repay_the_debt(alpha: Any, deliver_events: Any) -> None:
    from distribution import settlement, withdrawals
    from tests.distribution.conftest import pay as pay_order

    sharer, buyer, w = _owing(alpha, deliver_events, withdraw=300)
    with in_shop(alpha):
        withdrawals.withdrawal_debt_decide(w, decision="hold", reason="wait for the next orders", actor="staff:1")
        with pytest.raises(ValidationError) as held, translation.override("en"):
            withdrawals.withdrawal_paid(w, reference="BANK-3", actor="staff:1")
        assert "Held until" in str(held.value.message_dict["debt"])
    second = pay_order(alpha, buyer, [(5_000, 1)], deliver_events)
    complete(alpha, second)
    with in_shop(alpha):
        settlement.settle_due()  # 500: the 300 of debt first
        assert withdrawals.withdrawal_paid(w, reference="BANK-3", actor="staff:1").status == "paid"
    assert balances(alpha, sharer)["available"] == 200
    assert money.findings(alpha) == []


def test_a_debt_grown_after_pay_anyway_needs_a_new_decision(alpha: Any, deliver_events: Any) -> None:
    from distribution import settlement, withdrawals

    configure(alpha, levels=1, rate_level1_bp=1000, hold_days=0, withdrawal_methods=["bank"])
    sharer = distributor(alpha)
    buyer = bound_buyer(alpha, sharer)
    first, second = (pay(alpha, buyer, [(price, 1)], deliver_events) for price in (10_000, 5_000))
    complete(alpha, first)
    complete(alpha, second)
    with in_shop(alpha):
        assert settlement.settle_due() == 2  # 1000 + 500 available
        w = withdrawals.withdrawal_request(sharer, {"amount": 1400, **BANK})
        withdrawals.withdrawal_review(w, approve=True, actor="staff:1")
        (a,), (b,) = first.lines.values_list("pk", flat=True), second.lines.values_list("pk", flat=True)
    refund_lines(alpha, first, [(a, 10_000)], deliver_events)
    assert balances(alpha, sharer)["clawback_debt"] == -900
    with in_shop(alpha):
        withdrawals.withdrawal_debt_decide(w, decision="pay_anyway", reason="ok at 9.00", actor="staff:1")
    refund_lines(alpha, second, [(b, 5_000)], deliver_events)  # the debt grows to 1400
    with in_shop(alpha):
        with pytest.raises(ValidationError) as grown, translation.override("en"):
            withdrawals.withdrawal_paid(w, reference="BANK-4", actor="staff:1")
        assert "owes ¥14.00" in str(grown.value.message_dict["debt"])
        withdrawals.withdrawal_debt_decide(w, decision="pay_anyway", reason="still ok", actor="staff:1")
        assert withdrawals.withdrawal_paid(w, reference="BANK-4", actor="staff:1").status == "paid"
    assert [d[:2] for d in _decisions(alpha, w)] == [("pay_anyway", 900), ("pay_anyway", 1400)]
    assert money.findings(alpha) == []


def test_the_queue_shows_the_debt_and_takes_the_decision(alpha: Any, deliver_events: Any) -> None:
    sharer, _buyer, w = _owing(alpha, deliver_events, withdraw=700)
    client = english(owner_client(alpha))
    page = client.get("/console/distribution/withdrawals/?status=approved").content.decode()
    assert "Owes ¥7.00" in page and 'name="decision" value="pay_anyway"' in page and 'id="debt-banner"' in page
    paid = client.post(f"/console/distribution/withdrawals/{w.pk}/", {"action": "paid", "reference": "B1"}, follow=True)
    assert "reduce the withdrawal by the debt, hold it, or pay it anyway" in paid.content.decode()
    no_reason = client.post(
        f"/console/distribution/withdrawals/{w.pk}/", {"action": "debt", "decision": "pay_anyway"}, follow=True
    )
    assert "Say why it is paid although the debt is owed." in no_reason.content.decode()
    client.post(
        f"/console/distribution/withdrawals/{w.pk}/",
        {"action": "debt", "decision": "hold", "debt_reason": "until repaid"},
    )
    page = client.get("/console/distribution/withdrawals/?status=approved").content.decode()
    assert "Hold it until the debt is repaid · staff:" in page and "until repaid" in page
    # the console API: the debt on each withdrawal, and the decision as an action
    from tests.aftersales.conftest import post

    staff = owner_client(alpha)
    listed = staff.get("/api/v1/console/distribution/withdrawals/?status=approved").json()["results"]
    assert [(x["id"], x["debt"], x["debt_decision"]) for x in listed] == [(w.pk, 700, "hold")]
    bad = post(staff, f"/api/v1/console/distribution/withdrawals/{w.pk}/", {"action": "debt", "decision": "maybe"})
    assert bad.status_code == 400 and "decision" in bad.json()
    done = post(staff, f"/api/v1/console/distribution/withdrawals/{w.pk}/", {"action": "debt", "decision": "reduce"})
    assert done.status_code == 200 and (done.json()["status"], done.json()["debt"]) == ("rejected", 0)
    assert balances(alpha, sharer)["clawback_debt"] == 0
