"""Withdrawals: ``requested → approved → paid``, ``requested → rejected`` (funds back),
``approved → failed`` (funds back, reason kept; the distributor may request again);
Stripe Connect: ``approved → paying → paid | failed``.

Funds back repay an outstanding ``clawback_debt`` first, the rest becomes available; no
withdrawal may be requested while a debt is owed (later earnings repay it first). A debt
that arises while a withdrawal is open (a refund clawed back commission after the request)
stops it from being paid until the merchant decides (``withdrawal_debt_decide``, audited
in ``WithdrawalDecision``): *reduce* it by the debt (the debt is repaid from the amount
withdrawing; reduced to nothing, the withdrawal ends rejected), *hold* it until later
earnings repay the debt, or *pay anyway* with a reason (valid while the debt does not grow).

A request moves the amount from ``available`` to ``withdrawing`` in the same transaction,
through the ledger's SQL guard (the balance never goes below zero, so two concurrent
requests cannot overdraw); a partial unique index allows one open request per distributor.
Paying moves ``withdrawing`` to ``paid_out`` (net of the fee) and the fee to the shop.
Stripe Connect (``withdrawal_payout_stripe``): a transfer from the platform's Stripe
balance to the distributor's connected account for the net amount. The withdrawal is
``paying`` (committed) before Stripe is called; each try counts an ``attempt`` and names
it in the idempotency key, after looking the transfer up by its transfer group (a transfer
made by an earlier try pays it: never twice). Stripe's refusal marks the withdrawal failed
with its message (funds back); while ``paying``, the merchant can mark it failed only once
Stripe confirms it holds no transfer for it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from distribution import ledger
from distribution.ledger import LedgerError, Posting
from distribution.models import BP, Account, DistributionSettings, Distributor, Withdrawal, WithdrawalDecision
from platform_core.money import format_money
from platform_core.parsing import as_id
from platform_core.stripe_gateway import StripeError, stripe_enabled
from platform_core.tenancy import current_schema

W = Withdrawal.Status
STRIPE_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{6,40}$")


def withdrawal_request(distributor: Distributor, data: dict[str, Any]) -> Withdrawal:
    settings = DistributionSettings.current()
    errors: dict[str, list[str]] = {}
    amount = data.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        errors["amount"] = [_("Enter the amount in fen, a whole number.")]
        amount = 0
    elif amount < settings.withdrawal_minimum:
        errors["amount"] = [_("The minimum is %(min)s.") % {"min": format_money(settings.withdrawal_minimum)}]
    method = str(data.get("method") or "")
    usable = [m for m in settings.withdrawal_methods if m != Withdrawal.Method.STRIPE_CONNECT or stripe_enabled()]
    if method not in usable:
        errors["method"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(usable)}]
    details = data.get("account_details") or {}
    if not isinstance(details, dict) or len(str(details)) > 500:
        errors["account_details"] = [_("Give the account details as an object.")]
    elif method == Withdrawal.Method.BANK and not details.get("account_number"):
        errors["account_details"] = [_("Give the bank account number.")]
    elif method == Withdrawal.Method.STRIPE_CONNECT and not STRIPE_ACCOUNT.match(str(details.get("stripe_account"))):
        errors["account_details"] = [_("Give your Stripe account id (acct_…).")]
    if distributor.status != Distributor.Status.ACTIVE:
        errors["non_field_errors"] = [_("Only an active distributor can withdraw.")]
    if errors:
        raise ValidationError(errors)
    fee = amount * settings.withdrawal_fee_bp // BP
    try:
        with transaction.atomic():
            accounts = ledger.lock_accounts(
                [
                    (distributor.pk, Account.AVAILABLE),
                    (distributor.pk, Account.WITHDRAWING),
                    (distributor.pk, Account.CLAWBACK_DEBT),
                ]
            )
            debt = -accounts[(distributor.pk, Account.CLAWBACK_DEBT)].balance
            if debt > 0:  # commission taken back is owed first: repaid from the next earnings
                raise ValidationError(
                    {
                        "amount": [
                            _("You owe %(debt)s of commission taken back; withdraw once it is repaid.")
                            % {"debt": format_money(debt)}
                        ]
                    }
                )
            if settings.withdrawal_daily_cap is not None:
                start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
                today = (
                    Withdrawal.objects.filter(distributor=distributor, created_at__gte=start)
                    .exclude(status__in=[W.REJECTED, W.FAILED])
                    .aggregate(total=Sum("amount"))["total"]
                    or 0
                )
                if today + amount > settings.withdrawal_daily_cap:
                    raise ValidationError(
                        {
                            "amount": [
                                _("Today you can withdraw at most %(left)s more.")
                                % {"left": format_money(max(0, settings.withdrawal_daily_cap - today))}
                            ]
                        }
                    )
            withdrawal = Withdrawal.objects.create(
                distributor=distributor, amount=amount, fee=fee, method=method, account_details=details
            )
            ledger.post(
                [
                    Posting(
                        "withdraw",
                        f"withdraw:{withdrawal.pk}:0",
                        f"withdrawal:{withdrawal.pk}",
                        [
                            ((distributor.pk, Account.AVAILABLE), -amount),
                            ((distributor.pk, Account.WITHDRAWING), amount),
                        ],
                    )
                ],
                accounts,
            )
    except LedgerError as exc:
        raise ValidationError({"amount": [_("More than your available balance.")]}) from exc
    except IntegrityError as exc:
        raise ValidationError({"non_field_errors": [_("You already have a withdrawal in progress.")]}) from exc
    if not settings.withdrawal_review:
        withdrawal = withdrawal_review(withdrawal, approve=True, actor="system")
    return withdrawal


def _locked(withdrawal: Withdrawal, allowed: set[str]) -> Withdrawal:
    locked = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
    if locked.status not in allowed:
        raise ValidationError(
            {"status": [_("Not possible while the withdrawal is: %(s)s.") % {"s": locked.get_status_display()}]}
        )
    return locked


def _funds_back(locked: Withdrawal, step: str) -> None:
    """The amount leaves ``withdrawing``: a clawback debt taken meanwhile is repaid from it
    first, the rest is available again."""
    d = locked.distributor_id
    accounts = ledger.lock_accounts([(d, Account.AVAILABLE), (d, Account.WITHDRAWING), (d, Account.CLAWBACK_DEBT)])
    repay = min(locked.amount, -accounts[(d, Account.CLAWBACK_DEBT)].balance)
    ledger.post(
        [
            Posting(
                "withdraw_back",
                f"withdraw:{locked.pk}:{step}",
                f"withdrawal:{locked.pk}",
                [
                    ((d, Account.WITHDRAWING), -locked.amount),
                    ((d, Account.CLAWBACK_DEBT), repay),
                    ((d, Account.AVAILABLE), locked.amount - repay),
                ],
            )
        ],
        accounts,
    )


def withdrawal_review(withdrawal: Withdrawal, *, approve: bool, actor: str, reason: Any = "") -> Withdrawal:
    reason = str(reason or "").strip()[:200]
    if not approve and not reason:
        raise ValidationError({"reason": [_("Say why the withdrawal is rejected.")]})
    with transaction.atomic():
        locked = _locked(withdrawal, {W.REQUESTED})
        if approve:
            locked.status = W.APPROVED
        else:
            locked.status, locked.reason = W.REJECTED, reason
            _funds_back(locked, "rejected")
        locked.save(update_fields=["status", "reason", "updated_at"])
    return locked


D = WithdrawalDecision.Decision


def debt_of(distributor_id: int) -> int:
    """What the distributor owes of commission taken back (fen, ≥ 0)."""
    return -ledger.balances(distributor_id)[Account.CLAWBACK_DEBT]


def _check_debt(locked: Withdrawal, debt: int) -> None:
    """A withdrawal is paid while its distributor owes a debt only by the merchant's
    decision: pay anyway (while the debt has not grown since), never while held."""
    if debt <= 0:
        return
    if locked.debt_decision == D.PAY_ANYWAY and debt <= locked.debt_decided:
        return
    if locked.debt_decision == D.HOLD:
        raise ValidationError(
            {"debt": [_("Held until the %(debt)s of commission taken back is repaid.") % {"debt": format_money(debt)}]}
        )
    raise ValidationError(
        {
            "debt": [
                _(
                    "This distributor owes %(debt)s of commission taken back: reduce the withdrawal by the debt, "
                    "hold it, or pay it anyway with a reason."
                )
                % {"debt": format_money(debt)}
            ]
        }
    )


def withdrawal_debt_decide(withdrawal: Withdrawal, *, decision: Any, reason: Any, actor: str) -> Withdrawal:
    """The merchant's decision about an open withdrawal whose distributor owes a clawback
    debt (recorded, with the debt and the amounts, in ``WithdrawalDecision``)."""
    reason = str(reason or "").strip()
    errors: dict[str, list[str]] = {}
    if decision not in D.values:
        errors["decision"] = [_("Choose reduce, hold or pay anyway.")]
    if decision == D.PAY_ANYWAY and not reason:
        errors["reason"] = [_("Say why it is paid although the debt is owed.")]
    if len(reason) > 200:
        errors["reason"] = [_("Use at most 200 characters.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _locked(withdrawal, {W.REQUESTED, W.APPROVED})
        d = locked.distributor_id
        accounts = ledger.lock_accounts([(d, Account.WITHDRAWING), (d, Account.CLAWBACK_DEBT)])
        debt = -accounts[(d, Account.CLAWBACK_DEBT)].balance
        if debt <= 0:
            raise ValidationError({"decision": [_("The distributor owes nothing now: the withdrawal can be paid.")]})
        before = locked.amount
        n = WithdrawalDecision.objects.filter(withdrawal=locked).count() + 1
        if decision == D.REDUCE:
            repay = min(debt, locked.amount)
            ledger.post(
                [
                    Posting(
                        "withdraw_repay",
                        f"withdraw:{locked.pk}:reduce:{n}",
                        f"withdrawal:{locked.pk}",
                        [((d, Account.WITHDRAWING), -repay), ((d, Account.CLAWBACK_DEBT), repay)],
                    )
                ],
                accounts,
            )
            locked.amount = before - repay
            locked.fee = locked.fee * locked.amount // before if before else 0
            if locked.amount == 0:
                locked.status = W.REJECTED
                locked.reason = _("Used in full to repay the commission taken back.")[:200]
        locked.debt_decision, locked.debt_decided = str(decision), debt
        locked.save(update_fields=["amount", "fee", "status", "reason", "debt_decision", "debt_decided", "updated_at"])
        WithdrawalDecision.objects.create(
            withdrawal=locked,
            decision=decision,
            debt=debt,
            amount_before=before,
            amount_after=locked.amount,
            reason=reason[:200],
            actor=actor[:120],
        )
    return locked


def withdrawal_paid(withdrawal: Withdrawal, *, reference: Any, actor: str, check_debt: bool = True) -> Withdrawal:
    """The merchant paid it (bank reference, or credited to the shop balance). Idempotent.
    Refused while the distributor owes a clawback debt the merchant has not decided about
    (``check_debt``: off for a Stripe transfer already made, which is paid whatever)."""
    reference = str(reference or "").strip()
    if not reference or len(reference) > 120:
        raise ValidationError({"reference": [_("Give the payment reference.")]})
    with transaction.atomic():
        locked = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
        if locked.status == W.PAID:
            return locked
        locked = _locked(locked, {W.APPROVED, W.PAYING})
        d = locked.distributor_id
        keys = [
            (d, Account.WITHDRAWING),
            (d, Account.PAID_OUT),
            (d, Account.CLAWBACK_DEBT),
            (None, Account.WITHDRAWAL_FEES),
        ]
        accounts = ledger.lock_accounts(keys)
        if check_debt:
            _check_debt(locked, -accounts[(d, Account.CLAWBACK_DEBT)].balance)
        ledger.post(
            [
                Posting(
                    "withdraw_paid",
                    f"withdraw:{locked.pk}:paid",
                    f"withdrawal:{locked.pk}",
                    [
                        ((d, Account.WITHDRAWING), -locked.amount),
                        ((d, Account.PAID_OUT), locked.net),
                        ((None, Account.WITHDRAWAL_FEES), locked.fee),
                    ],
                )
            ],
            accounts,
        )
        locked.status, locked.reference = W.PAID, reference
        locked.save(update_fields=["status", "reference", "updated_at"])
        if locked.method == Withdrawal.Method.SHOP_BALANCE:  # the net onto the member's shop balance, once
            from shop.wallet.services import credit_withdrawal

            credit_withdrawal(locked.distributor.member_id, locked.net, withdrawal_id=locked.pk)
    return locked


def withdrawal_failed(withdrawal: Withdrawal, *, reason: Any, actor: str) -> Withdrawal:
    """The merchant says the payout failed (funds back). A Stripe Connect withdrawal whose
    transfer was asked for (``paying``) fails only once Stripe confirms it holds no
    transfer for it; one found makes it paid instead."""
    reason = str(reason or "").strip()[:200]
    if not reason:
        raise ValidationError({"reason": [_("Say why the payout failed.")]})
    current = Withdrawal.objects.get(pk=withdrawal.pk)
    if current.method != Withdrawal.Method.STRIPE_CONNECT:
        return _failed(withdrawal, reason, {W.APPROVED})
    with _payout_lock(current):
        current = Withdrawal.objects.get(pk=withdrawal.pk)
        if current.status == W.PAYING:
            found = _stripe_transfer(current)  # raises while Stripe gives no clear answer
            if found is not None:
                return _transfer_made(current, found, actor)
        return _failed(withdrawal, reason, {W.APPROVED, W.PAYING})


def _failed(withdrawal: Withdrawal, reason: str, allowed: set[str]) -> Withdrawal:
    with transaction.atomic():
        locked = _locked(withdrawal, allowed)
        locked.status, locked.reason = W.FAILED, reason
        _funds_back(locked, "failed")
        locked.save(update_fields=["status", "reason", "updated_at"])
    return locked


def withdrawal_of(distributor: Distributor, pk: Any) -> Withdrawal | None:
    return Withdrawal.objects.filter(distributor=distributor, pk=as_id(pk) or 0).first()


@contextmanager
def _payout_lock(withdrawal: Withdrawal) -> Iterator[None]:
    """Held (a session advisory lock, released however it ends) while Stripe is asked
    about this withdrawal's transfer: a second payout or a manual "failed" at the same
    moment is refused rather than sent alongside."""
    key = f"{current_schema()}-withdrawal-payout-{withdrawal.pk}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        row = cursor.fetchone()
    if not (row and row[0]):
        raise ValidationError({"status": [_("A payout of this withdrawal is in progress; try again shortly.")]})
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


def _transfer_group(withdrawal: Withdrawal) -> str:
    return f"{current_schema()}-withdrawal-{withdrawal.pk}"


def _stripe_transfer(withdrawal: Withdrawal) -> str | None:
    """The id of the transfer Stripe holds for this withdrawal (looked up by its transfer
    group), or None when Stripe confirms there is none. Raises ValidationError while
    Stripe gives no clear answer."""
    from platform_core import stripe_gateway as gateway

    if withdrawal.transfer_id:
        return withdrawal.transfer_id
    try:
        found = gateway.v1().transfers.list(params={"transfer_group": _transfer_group(withdrawal), "limit": 10})
    except StripeError as exc:
        raise ValidationError({"non_field_errors": [_("Stripe did not answer; try again.")]}) from exc
    for transfer in getattr(found, "data", None) or []:
        data = transfer.to_dict() if hasattr(transfer, "to_dict") else dict(transfer)
        if not data.get("reversed") and (data.get("metadata") or {}).get("withdrawal_id") == str(withdrawal.pk):
            return str(data["id"])
    return None


def withdrawal_payout_stripe(withdrawal: Withdrawal, *, actor: str) -> Withdrawal:
    """Pay an approved Stripe Connect withdrawal by a transfer; idempotent.

    The withdrawal moves to ``paying`` (a retry counts an ``attempt``) and that commits
    before Stripe is called, so a merchant cannot mark it failed while a transfer may
    exist. Each try first looks the transfer up by its transfer group (one made by an
    earlier try, even one whose idempotency key expired, pays it), and only then asks for a
    new one, keyed by the attempt. A clear refusal by Stripe fails it (funds back); no clear
    answer leaves it ``paying``. A payout or a manual "failed" of it at the same moment is
    refused (``_payout_lock``)."""
    with _payout_lock(withdrawal):
        return _payout_stripe(withdrawal, actor)


def _payout_stripe(withdrawal: Withdrawal, actor: str) -> Withdrawal:
    from platform_core import stripe_gateway as gateway

    with transaction.atomic():
        locked = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
        if locked.status == W.PAID:
            return locked
        if locked.method != Withdrawal.Method.STRIPE_CONNECT:
            raise ValidationError({"method": [_("Only a Stripe Connect withdrawal is paid through Stripe.")]})
        if locked.status not in (W.APPROVED, W.PAYING):
            raise ValidationError(
                {"status": [_("Not possible while the withdrawal is: %(s)s.") % {"s": locked.get_status_display()}]}
            )
        retry = locked.status == W.PAYING
        if retry:
            locked.attempt += 1
        else:  # a new payout: not while a debt is owed without the merchant's decision
            _check_debt(locked, debt_of(locked.distributor_id))
        locked.status = W.PAYING
        locked.save(update_fields=["status", "attempt", "updated_at"])
    found = _stripe_transfer(locked)  # raises while Stripe gives no clear answer
    if found is not None:
        return _transfer_made(locked, found, actor)
    schema = current_schema()
    try:
        transfer = gateway.v1().transfers.create(
            params={
                "amount": locked.net,
                "currency": str(getattr(getattr(connection, "tenant", None), "currency", "CNY") or "CNY").lower(),
                "destination": locked.account_details.get("stripe_account"),
                "metadata": {"tenant_schema": schema, "withdrawal_id": str(locked.pk)},
                "transfer_group": _transfer_group(locked),
            },
            options={"idempotency_key": f"{schema}-withdrawal-{locked.pk}-{locked.attempt}"},
        )
    except gateway.InvalidRequestError as exc:  # refused (no such account, …): nothing was sent
        message = getattr(exc, "user_message", None) or str(exc) or "Stripe refused the transfer"
        return _failed(locked, message, {W.PAYING})
    except StripeError as exc:  # no clear answer: stays paying; a retry looks the transfer up first
        raise ValidationError({"non_field_errors": [_("Stripe did not answer; try again.")]}) from exc
    return _transfer_made(locked, str(transfer.id), actor)


def _transfer_made(withdrawal: Withdrawal, transfer_id: str, actor: str) -> Withdrawal:
    Withdrawal.objects.filter(pk=withdrawal.pk).update(transfer_id=transfer_id)
    withdrawal.transfer_id = transfer_id
    return withdrawal_paid(withdrawal, reference=transfer_id, actor=actor, check_debt=False)
