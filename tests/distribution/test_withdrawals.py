"""Withdrawals through the distributor centre API and the console: minimum, available
balance, fee, daily cap, one open request at a time; approve → paid; reject and failed
give the funds back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import english, in_shop, owner_client
from tests.distribution.conftest import balances, bound_buyer, complete, configure, distributor, pay, sound
from tests.orders.conftest import member_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/distribution/withdrawals/"


def _earned(tenant: Any, deliver: Any, amount_fen: int = 1000) -> Any:
    """A distributor with ``amount_fen`` available (a 10% commission, settled)."""
    from distribution import settlement

    sharer = distributor(tenant)
    order = pay(tenant, bound_buyer(tenant, sharer), [(amount_fen * 10, 1)], deliver)
    complete(tenant, order)
    with in_shop(tenant):
        assert settlement.settle_due() == 1
    return sharer


def _ask(client: Any, body: dict[str, Any]) -> Any:
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def _act(tenant: Any, pk: int, body: dict[str, Any]) -> Any:
    return english(owner_client(tenant)).post(
        f"/api/v1/console/distribution/withdrawals/{pk}/", data=json.dumps(body), content_type="application/json"
    )


def test_request_approve_pay_with_fee(alpha: Any, deliver_events: Any) -> None:
    configure(
        alpha,
        rate_level1_bp=1000,
        hold_days=0,
        withdrawal_minimum=100,
        withdrawal_fee_bp=100,
        withdrawal_methods=["shop_balance", "bank"],
    )
    sharer = _earned(alpha, deliver_events)
    client = english(member_client(alpha, sharer.member))
    bad = _ask(client, {"amount": 50, "method": "cash"})
    assert bad.status_code == 400 and set(bad.json()) == {"amount", "method"}
    too_much = _ask(client, {"amount": 1001, "method": "shop_balance"})
    assert too_much.status_code == 400 and "amount" in too_much.json()
    no_account = _ask(client, {"amount": 500, "method": "bank"})
    assert no_account.status_code == 400 and "account_details" in no_account.json()
    made = _ask(client, {"amount": 800, "method": "bank", "account_details": {"account_number": "6222"}})
    assert made.status_code == 201, made.content
    assert (made.json()["fee"], made.json()["net"], made.json()["status"]) == (8, 792, "requested")
    second = _ask(client, {"amount": 100, "method": "shop_balance"})
    assert second.status_code == 400 and "non_field_errors" in second.json()  # one open at a time
    assert balances(alpha, sharer)["available"] == 200 and balances(alpha, sharer)["withdrawing"] == 800
    pk = made.json()["id"]
    assert _act(alpha, pk, {"action": "paid", "reference": "B1"}).status_code == 400  # not approved yet
    assert _act(alpha, pk, {"action": "approve"}).status_code == 200
    paid = _act(alpha, pk, {"action": "paid", "reference": "银行流水 88"})
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    assert _act(alpha, pk, {"action": "paid", "reference": "银行流水 88"}).status_code == 200  # idempotent
    assert balances(alpha, sharer) == {
        "pending": 0,
        "available": 200,
        "withdrawing": 0,
        "paid_out": 792,
        "clawback_debt": 0,
    }
    sound(alpha)


def test_reject_and_failed_give_the_funds_back_with_the_reason(alpha: Any, deliver_events: Any) -> None:
    configure(alpha, rate_level1_bp=1000, hold_days=0, withdrawal_minimum=100, withdrawal_methods=["shop_balance"])
    sharer = _earned(alpha, deliver_events)
    client = member_client(alpha, sharer.member)
    first = _ask(client, {"amount": 600, "method": "shop_balance"}).json()["id"]
    assert _act(alpha, first, {"action": "reject"}).status_code == 400  # a reason is needed
    rejected = _act(alpha, first, {"action": "reject", "reason": "信息不符"})
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "信息不符"
    assert balances(alpha, sharer)["available"] == 1000
    second = _ask(client, {"amount": 1000, "method": "shop_balance"}).json()["id"]
    _act(alpha, second, {"action": "approve"})
    failed = _act(alpha, second, {"action": "failed", "reason": "账户冻结"})
    assert failed.json()["status"] == "failed" and failed.json()["reason"] == "账户冻结"
    assert balances(alpha, sharer)["available"] == 1000 and balances(alpha, sharer)["withdrawing"] == 0
    # and it can be tried again
    assert _ask(client, {"amount": 1000, "method": "shop_balance"}).status_code == 201
    sound(alpha)


def test_daily_cap_and_automatic_approval(alpha: Any, deliver_events: Any) -> None:
    configure(
        alpha,
        rate_level1_bp=1000,
        hold_days=0,
        withdrawal_minimum=100,
        withdrawal_daily_cap=500,
        withdrawal_review=False,
        withdrawal_methods=["shop_balance"],
    )
    sharer = _earned(alpha, deliver_events)
    client = english(member_client(alpha, sharer.member))
    over = _ask(client, {"amount": 600, "method": "shop_balance"})
    assert over.status_code == 400 and "amount" in over.json()
    ok = _ask(client, {"amount": 400, "method": "shop_balance"})
    assert ok.json()["status"] == "approved"
    pk = ok.json()["id"]
    _act(alpha, pk, {"action": "paid", "reference": "余额"})
    again = _ask(client, {"amount": 200, "method": "shop_balance"})  # 400 + 200 > 500 today
    assert again.status_code == 400 and "amount" in again.json()


def test_a_member_who_is_no_distributor_has_no_centre_data(alpha: Any) -> None:
    from tests.orders.conftest import member

    configure(alpha)
    someone = member(alpha, "13822223333")
    client = member_client(alpha, someone)
    assert client.get(URL).status_code == 404
    assert client.get("/api/v1/distribution/commissions/").status_code == 404
    assert client.get("/api/v1/distribution/me/").json()["distributor"] is None
