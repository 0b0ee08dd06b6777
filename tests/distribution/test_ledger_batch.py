"""Settlement's batch posting (``ledger.post_batch``): a batch moves every cached balance
in one guarded UPDATE; a balance that would cross zero refuses the whole batch (nothing
written), and a posting already written is skipped like ``post`` does."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.conftest import in_shop
from tests.distribution.conftest import balances, bound_buyer, complete, configure, distributor, pay, sound

pytestmark = pytest.mark.django_db


def _move(d: Any, key: str, entries: list[tuple[str | None, int]]) -> Any:
    from distribution import ledger
    from distribution.models import Account

    wanted = [(None, Account.COMMISSION_EXPENSE) if kind is None else (d.pk, kind) for kind, _a in entries]
    accounts = ledger.lock_accounts(wanted)
    posting = ledger.Posting("test", key, "test", [(k, a) for k, (_kind, a) in zip(wanted, entries, strict=True)])
    return ledger.post_batch([posting], accounts)


def test_a_batch_of_lines_moves_every_balance_in_one_update(alpha: Any, deliver_events: Any) -> None:
    from distribution import settlement

    configure(alpha, levels=1, rate_level1_bp=1000, hold_days=0)
    first, second = distributor(alpha), distributor(alpha)
    for sharer, price in ((first, 1000), (first, 2000), (second, 3000)):
        complete(alpha, pay(alpha, bound_buyer(alpha, sharer), [(price, 1)], deliver_events))
    with in_shop(alpha), CaptureQueriesContext(connection) as ctx:
        assert settlement.settle_due() == 3
        assert settlement.settle_due() == 0
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE distribution_ledgeraccount")]
    assert len(updates) == 1
    assert (balances(alpha, first)["available"], balances(alpha, second)["available"]) == (300, 300)
    assert (balances(alpha, first)["pending"], balances(alpha, second)["pending"]) == (0, 0)
    sound(alpha)


@pytest.mark.parametrize(
    "entries",
    [
        [("pending", -100), ("available", 100)],  # pending would go below zero
        [("clawback_debt", 100), (None, -100)],  # the debt would go above zero
        [("available", 50), ("pending", 100), (None, -150), ("withdrawing", 50), ("paid_out", -50)],
    ],
)
def test_a_balance_crossing_zero_refuses_the_whole_batch(alpha: Any, entries: list[tuple[str | None, int]]) -> None:
    from distribution import ledger
    from distribution.models import LedgerEntry, LedgerTransaction

    sharer = distributor(alpha)
    with in_shop(alpha):
        with pytest.raises(ledger.LedgerError, match="would cross zero"), transaction.atomic():
            _move(sharer, "test:refused", entries)
        assert not LedgerTransaction.objects.filter(idempotency_key="test:refused").exists()
        assert not LedgerEntry.objects.exists()
    assert set(balances(alpha, sharer).values()) == {0}
    sound(alpha)


def test_a_posting_written_before_is_skipped(alpha: Any) -> None:
    sharer = distributor(alpha)
    with in_shop(alpha), transaction.atomic():
        assert len(_move(sharer, "test:once", [("pending", 100), (None, -100)])) == 1
        assert _move(sharer, "test:once", [("pending", 100), (None, -100)]) == []
    assert balances(alpha, sharer)["pending"] == 100
    sound(alpha)
