"""The commission ledger: double-entry, immutable entries in integer fen.

A distributor's accounts hold what the shop owes them, by state: ``pending``,
``available``, ``withdrawing``, ``paid_out``; ``clawback_debt`` is ≤ 0 (what they owe
back). The shop's counter-accounts (``commission_expense``, ``withdrawal_fees``) make
every transaction sum to zero. ``LedgerAccount.balance`` caches the sum of an account's
entries; it is changed only here, in the transaction that writes the entries, by an
UPDATE that refuses to take a state account below zero (the SQL guard of every balance
decrease). ``verify_balances`` checks the caches against the entries.

Use: inside a transaction, ``lock_accounts`` (zero rows inserted first, then locked in id
order — the fixed order), decide amounts from the locked balances, then ``post``
(settlement's batches: ``post_batch``, the same rules in one INSERT of entries and one
guarded UPDATE of every balance, however many accounts the batch moves).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from distribution.models import Account, LedgerAccount, LedgerEntry

Key = tuple[int | None, str]  # (distributor id or None for the shop, account kind)
NON_NEGATIVE = {Account.PENDING, Account.AVAILABLE, Account.WITHDRAWING, Account.PAID_OUT}
NON_POSITIVE = {Account.CLAWBACK_DEBT}


class LedgerError(Exception):
    """A posting would break the ledger's rules (unbalanced, or a balance below zero)."""


@dataclass
class Posting:
    kind: str
    key: str  # idempotency key, unique across the ledger
    reference: str
    entries: list[tuple[Key, int]]
    commission_line_id: int | None = None
    meta: dict[str, int] = field(default_factory=dict)


def lock_accounts(keys: Iterable[Key]) -> dict[Key, LedgerAccount]:
    """Make sure the accounts exist (zero rows), then lock them in id order."""
    wanted = sorted(set(keys), key=lambda k: (k[0] or 0, k[1]))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        values = ", ".join(["(%s, %s, 0)"] * len(wanted))
        params: list[Any] = [p for k in wanted for p in k]
        cursor.execute(
            f"INSERT INTO distribution_ledgeraccount (distributor_id, kind, balance) VALUES {values} "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            params,
        )
    distributors = {k[0] for k in wanted if k[0] is not None}
    kinds = {k[1] for k in wanted}
    rows = list(
        LedgerAccount.objects.select_for_update()
        .filter(kind__in=kinds)
        .filter(distributor_id__in=distributors)
        .order_by("id")
    ) + (
        list(LedgerAccount.objects.select_for_update().filter(kind__in=kinds, distributor__isnull=True).order_by("id"))
        if any(k[0] is None for k in wanted)
        else []
    )
    found = {(a.distributor_id, a.kind): a for a in rows}
    return {k: found[k] for k in wanted}


def post(postings: list[Posting], accounts: dict[Key, LedgerAccount]) -> list[Posting]:
    """Write ``postings`` (each balanced) against ``accounts`` locked by ``lock_accounts``
    in the caller's transaction. A posting whose key was posted before is skipped (safe to
    retry). Returns the postings written. Raises LedgerError (the caller's transaction
    then rolls back) if a balance would cross zero."""
    written, entries, deltas = _transactions(postings, accounts)
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(transaction_id=t, account_id=a, amount=amount) for t, a, amount in entries], batch_size=2000
    )
    by_id = {a.pk: a for a in accounts.values()}
    with connection.cursor() as cursor:
        for account_id in sorted(deltas):
            delta = deltas[account_id]
            account = by_id[account_id]
            guard = ""
            if account.distributor_id is not None and account.kind in NON_NEGATIVE:
                guard = " AND balance + %s >= 0"
            elif account.kind in NON_POSITIVE:
                guard = " AND balance + %s <= 0"
            cursor.execute(
                f"UPDATE distribution_ledgeraccount SET balance = balance + %s WHERE id = %s{guard} RETURNING balance",  # noqa: S608
                [delta, account_id] + ([delta] if guard else []),
            )
            row = cursor.fetchone()
            if row is None:
                raise LedgerError(f"account {account} would cross zero by {delta}")
            account.balance = row[0]
    return written


_NON_NEGATIVE_SQL = ", ".join(f"'{kind}'" for kind in sorted(NON_NEGATIVE))
_NON_POSITIVE_SQL = ", ".join(f"'{kind}'" for kind in sorted(NON_POSITIVE))
# every cached balance of the batch moved by one statement; the guard of ``post``, read from
# each row itself: a distributor's state account never below zero, a debt account never above
_APPLY_DELTAS = (
    "UPDATE distribution_ledgeraccount AS a SET balance = a.balance + v.delta "  # noqa: S608
    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delta) WHERE a.id = v.id "
    f"AND (a.distributor_id IS NULL OR a.kind NOT IN ({_NON_NEGATIVE_SQL}) OR a.balance + v.delta >= 0) "
    f"AND (a.kind NOT IN ({_NON_POSITIVE_SQL}) OR a.balance + v.delta <= 0) "
    "RETURNING a.id, a.balance"
)


def post_batch(postings: list[Posting], accounts: dict[Key, LedgerAccount]) -> list[Posting]:
    """``post`` for many postings at once (settlement's batches): the same rules, checks
    and idempotency keys, in a constant number of statements — the transactions in one
    INSERT, the entries in one, and every balance delta in one UPDATE whose row count must
    equal the accounts moved (else LedgerError, and the caller's transaction rolls back).
    The accounts must be locked by ``lock_accounts`` first: the UPDATE then takes no new
    lock (the lock order stays the one of ``lock_accounts``, by id)."""
    written, entries, deltas = _transactions(postings, accounts)
    if not entries:
        return written
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO distribution_ledgerentry (transaction_id, account_id, amount) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])",
            [list(column) for column in zip(*entries, strict=True)],
        )
        moved = sorted(account_id for account_id, delta in deltas.items() if delta != 0)
        if not moved:
            return written
        cursor.execute(_APPLY_DELTAS, [moved, [deltas[account_id] for account_id in moved]])
        updated = dict(cursor.fetchall())
    by_id = {a.pk: a for a in accounts.values()}
    if len(updated) != len(moved):
        refused = [f"{by_id[pk]} by {deltas[pk]}" for pk in moved if pk not in updated]
        raise LedgerError(f"accounts would cross zero: {', '.join(refused)}")
    for account_id, balance in updated.items():
        by_id[account_id].balance = balance
    return written


def _transactions(
    postings: list[Posting], accounts: dict[Key, LedgerAccount]
) -> tuple[list[Posting], list[tuple[int, int, int]], dict[int, int]]:
    """Insert the transactions of ``postings`` not posted before (one statement); returns
    those written, their entries to write as (transaction id, account id, amount) and the
    balance delta per account id."""
    if not postings:
        return [], [], {}
    for p in postings:
        if sum(amount for _key, amount in p.entries) != 0:
            raise LedgerError(f"unbalanced posting {p.key}")
    written: list[Posting] = []
    with connection.cursor() as cursor:
        values = ", ".join(["(%s, %s, %s, %s, now())"] * len(postings))
        params: list[Any] = []
        for p in postings:
            params += [p.kind, p.reference[:80], p.key, p.commission_line_id]
        cursor.execute(
            "INSERT INTO distribution_ledgertransaction (kind, reference, idempotency_key, commission_line_id, at) "  # noqa: S608
            f"VALUES {values} ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key",
            params,
        )
        ids = {key: pk for pk, key in cursor.fetchall()}
    entries: list[tuple[int, int, int]] = []
    deltas: dict[int, int] = {}
    for p in postings:
        if p.key not in ids:
            continue
        written.append(p)
        for key, amount in p.entries:
            if amount == 0:
                continue
            account = accounts[key]
            entries.append((ids[p.key], account.pk, amount))
            deltas[account.pk] = deltas.get(account.pk, 0) + amount
    return written, entries, deltas


def balances(distributor_id: int) -> dict[str, int]:
    found = dict(LedgerAccount.objects.filter(distributor_id=distributor_id).values_list("kind", "balance"))
    return {
        kind: int(found.get(kind, 0))
        for kind in (Account.PENDING, Account.AVAILABLE, Account.WITHDRAWING, Account.PAID_OUT, Account.CLAWBACK_DEBT)
    }


def verify_balances() -> list[str]:
    """Problems found (empty: the ledger is sound): a transaction whose entries do not sum
    to zero, or a cached balance different from the sum of its account's entries."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id, sum(amount) FROM distribution_ledgerentry GROUP BY transaction_id "
            "HAVING sum(amount) <> 0"
        )
        problems += [f"transaction {t} sums to {s}" for t, s in cursor.fetchall()]
        cursor.execute(
            "SELECT a.id, a.balance, coalesce(sum(e.amount), 0) FROM distribution_ledgeraccount a "
            "LEFT JOIN distribution_ledgerentry e ON e.account_id = a.id GROUP BY a.id, a.balance "
            "HAVING a.balance <> coalesce(sum(e.amount), 0)"
        )
        problems += [f"account {a}: cached {b}, entries {s}" for a, b, s in cursor.fetchall()]
    return problems
