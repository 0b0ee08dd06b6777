"""Deterministic races: a refund arriving while settlement holds the commission line, and
two withdrawal requests at the same moment. The first action is paused at an exact point
inside its transaction (rows locked, not yet committed); the second is started and seen
waiting on a lock; then the first is released."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections

from tenants.services import shop_signup
from tests.conftest import PASSWORD, in_shop
from tests.distribution.conftest import (
    balances,
    bound_buyer,
    complete,
    configure,
    distributor,
    lines_of,
    refund_lines,
)

SLUG = "dist-race"


def _shop(live_db: list[str]) -> Any:
    live_db.append(SLUG)
    return shop_signup(name="Race", slug=SLUG, email="race@dist.test", password=PASSWORD, tier="pro").tenant


def _wait_for_lock_waiter() -> None:
    deadline = time.time() + 10
    while time.time() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= 1:
                return
        time.sleep(0.02)
    raise AssertionError("the second action never waited for the first one's lock")


def _run(tenant: Any, name: str, action: Callable[[], Any], outcomes: dict[str, Any]) -> threading.Thread:
    def body() -> None:
        try:
            with in_shop(tenant):
                outcomes[name] = action()
        except ValidationError as exc:
            outcomes[name] = exc.message_dict
        finally:
            connections.close_all()

    thread = threading.Thread(target=body, name=name)
    thread.start()
    return thread


def _paid_order(tenant: Any, buyer: Any, price: int) -> Any:
    from tests.aftersales.conftest import paid_order

    return paid_order(tenant, buyer, [(price, 1)])  # committed: the order_paid event runs for real


def test_a_refund_racing_settlement_is_clawed_back_after_it(live_db: list[str], monkeypatch: Any) -> None:
    from distribution import ledger, settlement
    from distribution.models import CommissionLine

    tenant = _shop(live_db)
    configure(tenant, levels=1, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(tenant)
    order = _paid_order(tenant, bound_buyer(tenant, sharer), 10_000)
    complete(tenant, order)
    (line,) = lines_of(tenant, order)
    assert line.amount == 1000
    locked, release = threading.Event(), threading.Event()
    real_lock = ledger.lock_accounts

    def lock_then_hold(keys: Any) -> Any:
        result = real_lock(keys)
        if threading.current_thread().name == "settle":
            locked.set()
            release.wait(10)  # the commission line and the accounts stay locked
        return result

    monkeypatch.setattr(ledger, "lock_accounts", lock_then_hold)
    outcomes: dict[str, Any] = {}
    settler = _run(tenant, "settle", settlement.settle_due, outcomes)
    assert locked.wait(10)
    # the merchant refunds the line: the refund commits, then its event's reversal waits
    refunder = _run(
        tenant,
        "refund",
        lambda: refund_lines(tenant, order, [(line.order_line_id, 10_000)], nullcontext).amount,
        outcomes,
    )
    _wait_for_lock_waiter()
    release.set()
    settler.join(10)
    refunder.join(10)
    assert outcomes == {"settle": 1, "refund": 10_000}
    with in_shop(tenant):
        after = CommissionLine.objects.get(pk=line.pk)
        assert (after.status, after.clawed_back, after.reversed_amount) == ("settled", 1000, 0)
        assert ledger.verify_balances() == []
    assert balances(tenant, sharer) == {
        "pending": 0,
        "available": 0,
        "withdrawing": 0,
        "paid_out": 0,
        "clawback_debt": 0,
    }


def test_two_withdrawals_at_once_never_overdraw(live_db: list[str], monkeypatch: Any) -> None:
    from distribution import ledger, settlement, withdrawals
    from distribution.models import Withdrawal

    tenant = _shop(live_db)
    configure(tenant, levels=1, rate_level1_bp=1000, hold_days=0, withdrawal_minimum=100, withdrawal_methods=["bank"])
    sharer = distributor(tenant)
    order = _paid_order(tenant, bound_buyer(tenant, sharer), 10_000)
    complete(tenant, order)
    with in_shop(tenant):
        assert settlement.settle_due() == 1
    posted, release = threading.Event(), threading.Event()
    real_post = ledger.post

    def post_then_hold(postings: Any, accounts: Any) -> Any:
        result = real_post(postings, accounts)
        if threading.current_thread().name == "first":
            posted.set()
            release.wait(10)  # the money is moved, not yet committed
        return result

    monkeypatch.setattr(ledger, "post", post_then_hold)
    body = {"amount": 800, "method": "bank", "account_details": {"account_number": "6222"}}
    outcomes: dict[str, Any] = {}
    first = _run(tenant, "first", lambda: withdrawals.withdrawal_request(sharer, body).amount, outcomes)
    assert posted.wait(10)
    second = _run(tenant, "second", lambda: withdrawals.withdrawal_request(sharer, body).amount, outcomes)
    _wait_for_lock_waiter()
    release.set()
    first.join(10)
    second.join(10)
    assert outcomes["first"] == 800
    assert isinstance(outcomes["second"], dict)  # refused with a reason, nothing written
    with in_shop(tenant):
        assert list(Withdrawal.objects.values_list("amount", flat=True)) == [800]
        assert ledger.verify_balances() == []
    assert balances(tenant, sharer)["available"] == 200 and balances(tenant, sharer)["withdrawing"] == 800
