"""The shop balance: every write in one transaction with the entry and the cached balance
together; safe to retry.

* ``credit``: add money (a withdrawal paid to the shop balance, an order refund, an
  adjustment). Idempotent by ``(kind, reference)``: the same reference never credits twice.
* ``debit``: take money (an order paid from the balance), guarded in SQL
  (``UPDATE … SET balance = balance - x WHERE member_id = … AND balance >= x``), never
  read then written; raises ``InsufficientBalance`` and writes nothing when it does not
  cover the amount.
* ``balance``, ``entries``: reads. ``verify``: every cached balance equals the sum of its
  entries.

The balance row is always the last row a transaction locks (after the order, payment or
withdrawal it depends on); a missing row is inserted (zero) before it is locked."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from shop.wallet.models import WalletBalance, WalletEntry

Kind = WalletEntry.Kind
CREDITS = {Kind.CREDIT_WITHDRAWAL, Kind.REFUND_ORDER, Kind.ADJUST}
DEBITS = {Kind.SPEND_ORDER, Kind.ADJUST}


class InsufficientBalance(Exception):
    """The balance does not cover the amount: nothing was written."""


class ReferenceReused(Exception):
    """A reference already names an entry of another member or amount."""


def _member_id(member: Any) -> int:
    return int(getattr(member, "pk", member))


def _check(amount: Any, kind: str, allowed: set[Kind], reference: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ValueError(f"a wallet amount is a positive number of fen, not {amount!r}")
    if kind not in allowed:
        raise ValueError(f"not a kind for this: {kind!r}")
    if not reference or len(reference) > 120:
        raise ValueError("a wallet entry needs a reference of 1 to 120 characters")


def _ensure_row(member_id: int) -> None:
    """Insert the zero balance row if missing (``ON CONFLICT DO NOTHING``), so that the
    guarded update below always has a row to lock."""
    WalletBalance.objects.bulk_create([WalletBalance(member_id=member_id, balance=0)], ignore_conflicts=True)


def _existing(member_id: int, amount: int, kind: str, reference: str) -> WalletEntry:
    found = WalletEntry.objects.get(kind=kind, reference=reference)
    if found.member_id != member_id or found.amount != amount:
        raise ReferenceReused(f"{kind} {reference} was used for another entry")
    return found


def credit(member: Any, amount: int, *, kind: str, reference: str, note: str = "") -> WalletEntry:
    """Add ``amount`` (fen, > 0) to the member's balance. A second call with the same
    ``kind`` and ``reference`` returns the first entry and adds nothing."""
    member_id, reference = _member_id(member), str(reference)
    _check(amount, kind, CREDITS, reference)
    with transaction.atomic():
        _ensure_row(member_id)
        try:
            with transaction.atomic():  # a savepoint: a duplicate leaves the outer transaction usable
                entry = WalletEntry.objects.create(
                    member_id=member_id, amount=amount, kind=kind, reference=reference, note=note[:200]
                )
        except IntegrityError:
            return _existing(member_id, amount, kind, reference)
        WalletBalance.objects.filter(member_id=member_id).update(
            balance=F("balance") + amount, updated_at=timezone.now()
        )
    return entry


def debit(member: Any, amount: int, *, kind: str, reference: str, note: str = "") -> WalletEntry:
    """Take ``amount`` (fen, > 0) from the member's balance, only if it covers it. Raises
    InsufficientBalance (nothing written) otherwise; ReferenceReused for a reference
    already taken (the caller's transaction must roll back)."""
    member_id, reference = _member_id(member), str(reference)
    _check(amount, kind, DEBITS, reference)
    with transaction.atomic():
        _ensure_row(member_id)
        taken = WalletBalance.objects.filter(member_id=member_id, balance__gte=amount).update(
            balance=F("balance") - amount, updated_at=timezone.now()
        )
        if not taken:
            raise InsufficientBalance(member_id)
        try:
            with transaction.atomic():
                entry = WalletEntry.objects.create(
                    member_id=member_id, amount=-amount, kind=kind, reference=reference, note=note[:200]
                )
        except IntegrityError as exc:
            raise ReferenceReused(f"{kind} {reference} was used for another entry") from exc
    return entry


def balance(member: Any) -> int:
    """The member's balance in fen (0 for a member who never had one)."""
    found = WalletBalance.objects.filter(member_id=_member_id(member)).values_list("balance", flat=True).first()
    return int(found or 0)


def entries(member: Any, limit: int = 20) -> QuerySet[WalletEntry]:
    return WalletEntry.objects.filter(member_id=_member_id(member)).order_by("-created_at", "-id")[:limit]


def verify() -> list[tuple[int, int, int]]:
    """Members whose cached balance is not the sum of their entries, as (member id,
    cached, sum); empty when the ledger holds."""
    sums = dict(WalletEntry.objects.values("member_id").annotate(total=Sum("amount")).values_list("member_id", "total"))
    cached = dict(WalletBalance.objects.values_list("member_id", "balance"))
    wrong = []
    for member_id in sorted(set(sums) | set(cached)):
        if int(sums.get(member_id) or 0) != int(cached.get(member_id) or 0):
            wrong.append((member_id, int(cached.get(member_id) or 0), int(sums.get(member_id) or 0)))
    return wrong


def credit_withdrawal(member: Any, amount: int, *, withdrawal_id: int) -> WalletEntry | None:
    """A distributor's withdrawal paid to the shop balance (called by the distribution
    engine in the transaction that marks it paid): the net amount, keyed by the withdrawal,
    so a retried callback credits it once."""
    if amount < 1:
        return None
    return credit(member, amount, kind=Kind.CREDIT_WITHDRAWAL, reference=f"withdrawal-{withdrawal_id}")
