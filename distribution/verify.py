"""The reconciliation verifier (``manage.py distribution_verify``, and beat every night in
every shop): beyond the ledger's own balance, commission is checked against the orders,
payments and refunds it comes from.

* the ledger: every transaction sums to zero, every cached balance equals its entries;
* per payment: refunds never exceed what was captured, and the payment's refunded figure
  is the sum of its refunds; per order line: refunded ≤ paid (amount and units); shipping
  refunded ≤ shipping paid (``shop.payments.reconcile``);
* per commission line: its amount is its snapshotted rule × base (a fixed amount × units,
  never more than the base), all levels of an order line within the cap; what was taken
  back is the documented rounding of ``amount × refunded ÷ base`` (rounded down; all of
  it once the line is fully refunded), where *refunded* is the money back for that order
  line; its ledger postings add up to what it still holds;
* per distributor: pending + available + withdrawing + paid out + fees + debt = earned −
  reversed − clawed back (+ team dividends), with pending, withdrawing and paid out each
  equal to the lines and withdrawals behind them;
* the shop balance: every member's cached balance equals the sum of their entries.

Each problem is a ``platform_core.checks.Finding``; no finding, nothing to reconcile."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext as _

from distribution import ledger
from distribution.models import BP, Account, CommissionLine, LedgerAccount, LedgerEntry, Withdrawal
from distribution.settlement import taken_back
from platform_core.checks import Finding, descriptions
from platform_core.money import format_money
from shop.payments import reconcile

CHECK = "distribution_verify"


def verify_shop() -> list[Finding]:
    """Every finding in the current shop's schema (empty: it reconciles to the fen)."""
    found = [Finding("ledger", problem) for problem in ledger.verify_balances()]
    refunds = reconcile.line_refunds()
    found += reconcile.check_payments()
    found += reconcile.check_refunds()
    found += reconcile.check_lines(refunds)
    found += check_commission(refunds)
    found += check_distributors()
    found += reconcile.check_wallet()
    return found


def verify_and_record() -> int:
    """Run the verifier in the current shop and keep its findings (``platform_core.checks``)
    for the consoles; a finding is logged too. Returns how many were found."""
    import logging

    from platform_core.checks import record
    from platform_core.tenancy import current_schema

    found = verify_shop()
    schema = current_schema()
    record(schema, CHECK, found)
    if found:
        logging.getLogger(__name__).warning("reconciliation: %s finding(s) in %s", len(found), schema)
    return len(found)


def rule_amount(line: CommissionLine) -> int:
    """What the line's snapshotted rule gives on its base, before the cap across levels."""
    if line.fixed_amount is not None:
        return min(line.fixed_amount * line.quantity, line.base)
    return line.base * int(line.rate_bp or 0) // BP


def check_commission(refunds: dict[int, reconcile.LineRefund]) -> list[Finding]:
    found: list[Finding] = []
    posted = dict(
        LedgerEntry.objects.filter(transaction__commission_line__isnull=False, account__distributor__isnull=False)
        .values("transaction__commission_line_id")
        .annotate(total=Sum("amount"))
        .values_list("transaction__commission_line_id", "total")
    )
    by_order_line: dict[int, list[CommissionLine]] = defaultdict(list)
    for line in CommissionLine.objects.select_related("order").order_by("order_line_id", "level").iterator():
        by_order_line[line.order_line_id].append(line)
    for order_line_id, lines in by_order_line.items():
        first = lines[0]
        order_subject = _("order %(order)s, line %(line)s") % {"order": first.order.number, "line": order_line_id}
        base = first.base
        rules = [rule_amount(line) for line in lines]
        allowance = base * cap_bp(first) // BP
        if sum(line.amount for line in lines) != min(sum(rules), allowance) or any(
            line.amount > rule for line, rule in zip(lines, rules, strict=True)
        ):
            found.append(
                Finding(
                    "commission_amount",
                    order_subject,
                    {
                        "base": base,
                        "amounts": [line.amount for line in lines],
                        "rules": rules,
                        "cap": allowance,
                    },
                )
            )
        refunded = min(base, refunds.get(order_line_id, reconcile.LineRefund()).back)
        for line in lines:
            subject = _("commission line %(id)s (%(order)s, level %(level)s)") % {
                "id": line.pk,
                "order": order_subject,
                "level": line.level,
            }
            expected = taken_back(line.amount, refunded, line.base)
            taken = line.reversed_amount + line.clawed_back
            if taken != expected or line.refunded_base != refunded:
                found.append(
                    Finding(
                        "commission_reversal",
                        subject,
                        {
                            "amount": line.amount,
                            "base": line.base,
                            "refunded": refunded,
                            "recorded_refunded": line.refunded_base,
                            "expected": expected,
                            "taken": taken,
                        },
                    )
                )
            net = line.amount - taken
            wrong_status = (line.status == CommissionLine.Status.PENDING and net == 0 and line.amount > 0) or (
                line.status == CommissionLine.Status.REVERSED and net != 0
            )
            if wrong_status:
                found.append(Finding("commission_status", subject, {"status": line.status, "net": net}))
            if int(posted.get(line.pk) or 0) != net:
                found.append(
                    Finding("commission_ledger", subject, {"net": net, "posted": int(posted.get(line.pk) or 0)})
                )
    return found


def cap_bp(line: CommissionLine) -> int:
    return min(int(line.cap_bp), BP)


def check_distributors() -> list[Finding]:
    found: list[Finding] = []
    balances: dict[int, dict[str, int]] = defaultdict(dict)
    for distributor_id, kind, balance in LedgerAccount.objects.filter(distributor__isnull=False).values_list(
        "distributor_id", "kind", "balance"
    ):
        balances[distributor_id][kind] = int(balance)
    earned: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in CommissionLine.objects.values("distributor_id", "status").annotate(
        amount=Sum("amount"), reversed=Sum("reversed_amount"), clawed=Sum("clawed_back")
    ):
        e = earned[row["distributor_id"]]
        e["earned"] += int(row["amount"])
        e["reversed"] += int(row["reversed"])
        e["clawed"] += int(row["clawed"])
        if row["status"] == CommissionLine.Status.PENDING:
            e["pending"] += int(row["amount"]) - int(row["reversed"])
    for distributor_id, total in (
        LedgerEntry.objects.filter(transaction__kind="dividend", account__distributor__isnull=False)
        .values("account__distributor_id")
        .annotate(total=Sum("amount"))
        .values_list("account__distributor_id", "total")
    ):
        earned[distributor_id]["dividends"] += int(total)
    W = Withdrawal.Status
    for drawn in Withdrawal.objects.values("distributor_id", "status").annotate(amount=Sum("amount"), fee=Sum("fee")):
        e = earned[drawn["distributor_id"]]
        if drawn["status"] in (W.REQUESTED, W.APPROVED, W.PAYING):
            e["withdrawing"] += int(drawn["amount"])
        elif drawn["status"] == W.PAID:
            e["fees"] += int(drawn["fee"])
            e["paid_out"] += int(drawn["amount"]) - int(drawn["fee"])
    for distributor_id in sorted(set(balances) | set(earned)):
        b = balances.get(distributor_id, {})
        e = earned[distributor_id]
        subject = _("distributor %(id)s") % {"id": distributor_id}
        holds = sum(b.get(k, 0) for k in (Account.PENDING, Account.AVAILABLE, Account.WITHDRAWING, Account.PAID_OUT))
        holds += e["fees"] + b.get(Account.CLAWBACK_DEBT, 0)
        owed = e["earned"] - e["reversed"] - e["clawed"] + e["dividends"]
        if holds != owed:
            found.append(Finding("distributor_total", subject, {"holds": holds, "owed": owed}))
        for kind, expected in (
            (Account.PENDING, e["pending"]),
            (Account.WITHDRAWING, e["withdrawing"]),
            (Account.PAID_OUT, e["paid_out"]),
        ):
            if b.get(kind, 0) != expected:
                found.append(
                    Finding(
                        "distributor_account",
                        subject,
                        {"account": kind, "balance": b.get(kind, 0), "expected": expected},
                    )
                )
    return found


def _money(value: Any) -> str:
    return format_money(int(value))


descriptions.update(
    {
        "ledger": lambda f: _("The commission ledger does not balance."),
        "commission_amount": lambda f: (
            _("Commission %(amounts)s on a base of %(base)s, where the rules give %(rules)s within a cap of %(cap)s.")
            % {
                "amounts": ", ".join(_money(a) for a in f["amounts"]),
                "base": _money(f["base"]),
                "rules": ", ".join(_money(a) for a in f["rules"]),
                "cap": _money(f["cap"]),
            }
        ),
        "commission_reversal": lambda f: (
            _(
                "%(taken)s taken back of %(amount)s commission, where %(refunded)s refunded of %(base)s gives %(expected)s."
            )
            % {
                "taken": _money(f["taken"]),
                "amount": _money(f["amount"]),
                "refunded": _money(f["refunded"]),
                "base": _money(f["base"]),
                "expected": _money(f["expected"]),
            }
        ),
        "commission_status": lambda f: (
            _("Status %(status)s with %(net)s still standing.") % {"status": f["status"], "net": _money(f["net"])}
        ),
        "commission_ledger": lambda f: (
            _("The ledger holds %(posted)s for a line that stands at %(net)s.")
            % {"posted": _money(f["posted"]), "net": _money(f["net"])}
        ),
        "distributor_total": lambda f: (
            _("The accounts hold %(holds)s where the commission comes to %(owed)s.")
            % {"holds": _money(f["holds"]), "owed": _money(f["owed"])}
        ),
        "distributor_account": lambda f: (
            _("%(account)s holds %(balance)s where its lines and withdrawals give %(expected)s.")
            % {"account": f["account"], "balance": _money(f["balance"]), "expected": _money(f["expected"])}
        ),
    }
)
