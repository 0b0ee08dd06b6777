"""Withdrawals: ``requested → approved → paid``, ``requested → rejected`` (funds back),
``approved → failed`` (funds back, reason kept; the distributor may request again).

A request moves the amount from ``available`` to ``withdrawing`` in the same transaction,
through the ledger's SQL guard (the balance never goes below zero, so two concurrent
requests cannot overdraw); a partial unique index allows one open request per distributor.
Paying moves ``withdrawing`` to ``paid_out`` (net of the fee) and the fee to the shop.
Stripe Connect (``withdrawal_payout_stripe``): a transfer from the platform's Stripe
balance to the distributor's connected account for the net amount, with an idempotency
key naming the shop and the withdrawal (a retry never pays twice); Stripe's refusal
marks the withdrawal failed with its message (funds back to available)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from distribution import ledger
from distribution.ledger import LedgerError, Posting
from distribution.models import BP, Account, DistributionSettings, Distributor, Withdrawal
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
                [(distributor.pk, Account.AVAILABLE), (distributor.pk, Account.WITHDRAWING)]
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
    d = locked.distributor_id
    accounts = ledger.lock_accounts([(d, Account.AVAILABLE), (d, Account.WITHDRAWING)])
    ledger.post(
        [
            Posting(
                "withdraw_back",
                f"withdraw:{locked.pk}:{step}",
                f"withdrawal:{locked.pk}",
                [((d, Account.WITHDRAWING), -locked.amount), ((d, Account.AVAILABLE), locked.amount)],
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


def withdrawal_paid(withdrawal: Withdrawal, *, reference: Any, actor: str) -> Withdrawal:
    """The merchant paid it (bank reference, or credited to the shop balance). Idempotent."""
    reference = str(reference or "").strip()
    if not reference or len(reference) > 120:
        raise ValidationError({"reference": [_("Give the payment reference.")]})
    with transaction.atomic():
        locked = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
        if locked.status == W.PAID:
            return locked
        locked = _locked(locked, {W.APPROVED})
        d = locked.distributor_id
        keys = [(d, Account.WITHDRAWING), (d, Account.PAID_OUT), (None, Account.WITHDRAWAL_FEES)]
        accounts = ledger.lock_accounts(keys)
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
    return locked


def withdrawal_failed(withdrawal: Withdrawal, *, reason: Any, actor: str) -> Withdrawal:
    reason = str(reason or "").strip()[:200]
    if not reason:
        raise ValidationError({"reason": [_("Say why the payout failed.")]})
    with transaction.atomic():
        locked = _locked(withdrawal, {W.APPROVED})
        locked.status, locked.reason = W.FAILED, reason
        _funds_back(locked, "failed")
        locked.save(update_fields=["status", "reason", "updated_at"])
    return locked


def withdrawal_of(distributor: Distributor, pk: Any) -> Withdrawal | None:
    return Withdrawal.objects.filter(distributor=distributor, pk=as_id(pk) or 0).first()


def withdrawal_payout_stripe(withdrawal: Withdrawal, *, actor: str) -> Withdrawal:
    """Pay an approved Stripe Connect withdrawal by a transfer; idempotent."""
    from platform_core import stripe_gateway as gateway

    locked = Withdrawal.objects.get(pk=withdrawal.pk)
    if locked.status == W.PAID:
        return locked
    if locked.method != Withdrawal.Method.STRIPE_CONNECT:
        raise ValidationError({"method": [_("Only a Stripe Connect withdrawal is paid through Stripe.")]})
    if locked.status != W.APPROVED:
        raise ValidationError(
            {"status": [_("Not possible while the withdrawal is: %(s)s.") % {"s": locked.get_status_display()}]}
        )
    schema = current_schema()
    try:
        transfer = gateway.v1().transfers.create(
            params={
                "amount": locked.net,
                "currency": str(getattr(getattr(connection, "tenant", None), "currency", "CNY") or "CNY").lower(),
                "destination": locked.account_details.get("stripe_account"),
                "metadata": {"tenant_schema": schema, "withdrawal_id": str(locked.pk)},
                "transfer_group": f"{schema}-withdrawal-{locked.pk}",
            },
            options={"idempotency_key": f"{schema}-withdrawal-{locked.pk}-{locked.attempt}"},
        )
    except gateway.InvalidRequestError as exc:  # refused (no such account, …): nothing was sent
        message = getattr(exc, "user_message", None) or str(exc) or "Stripe refused the transfer"
        return withdrawal_failed(locked, reason=message, actor="stripe")
    except StripeError as exc:  # no clear answer: stays approved; a retry reuses the key
        raise ValidationError({"non_field_errors": [_("Stripe did not answer; try again.")]}) from exc
    return withdrawal_paid(locked, reference=str(transfer.id), actor=actor)
