"""Dunning and operator-recorded (offline) payments.

Dunning runs from beat: trials and paid periods that ended become overdue (banner and
email), and a shop still overdue after the grace period is suspended by billing — never an
operator's suspension, never a deletion. Offline payments, recorded by an operator, extend
the paid period and reopen a shop billing suspended."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.models import BillingAccount, Invoice
from billing.notifications import email as _email
from billing.services import (
    _apply_plan_tier,
    _locked,
    _set_overdue,
    _settle,
    account_for,
    has_access,
    resolve_plan,
)
from platform_core.audit import record_operator_action
from tenants.models import Tenant
from tenants.services import tenant_set_status


def run_dunning(now: datetime | None = None) -> dict[str, int]:
    """Move trials and offline periods that ended to overdue, warn before trials end, and
    suspend shops overdue past the grace period. Idempotent: run it as often as you like."""
    now = now or timezone.now()
    grace = timedelta(days=settings.BILLING_GRACE_DAYS)
    counts = {"overdue": 0, "suspended": 0, "warned": 0}
    for tenant in Tenant.objects.exclude(schema_name="public").filter(billing__isnull=True):
        account_for(tenant)  # shops created before billing existed get their trial now
    for pk in BillingAccount.objects.values_list("pk", flat=True):
        with transaction.atomic():
            account = BillingAccount.objects.select_for_update().select_related("tenant").get(pk=pk)
            changed = False
            if account.status == BillingAccount.Status.TRIAL and account.trial_ends_at:
                if account.trial_ends_at <= now:
                    account.status = BillingAccount.Status.PAST_DUE
                    _set_overdue(account, account.trial_ends_at)
                    counts["overdue"] += 1
                    changed = True
                elif account.trial_ends_at - now <= timedelta(days=3) and not account.trial_ending_notified:
                    account.trial_ending_notified = True
                    _email(account, "trial_ending", date=account.trial_ends_at.date())
                    counts["warned"] += 1
                    changed = True
            if (
                account.provider == BillingAccount.Provider.OFFLINE
                and account.status == BillingAccount.Status.ACTIVE
                and account.current_period_end
                and account.current_period_end <= now
            ):
                account.status = BillingAccount.Status.PAST_DUE
                _set_overdue(account, account.current_period_end)
                counts["overdue"] += 1
                changed = True
            if (
                account.past_due_since
                and account.past_due_since + grace <= now
                and not has_access(account, now)
                and account.tenant.status == Tenant.Status.ACTIVE
            ):
                with translation.override(account.tenant.locale or settings.LANGUAGE_CODE):
                    reason = _("Unpaid subscription: pay in the merchant console to reopen.")
                tenant_set_status(
                    account.tenant, Tenant.Status.SUSPENDED, actor=None, reason=reason, by="billing", only_from="active"
                )
                _email(account, "suspended")
                counts["suspended"] += 1
            if changed:
                account.save()
    return counts


def offline_record_payment(
    account: BillingAccount, *, months: int, amount: int, reference: str, actor: Any, plan_key: str = ""
) -> Invoice:
    """An operator records a payment received outside Stripe: extends the paid period, and
    moves the shop to ``plan_key`` (default: the plan it asked for, else its current one)."""
    if months < 1 or months > 36:
        raise ValidationError({"months": _("Between 1 and 36 months.")})
    if amount < 0:
        raise ValidationError({"amount": _("The amount cannot be negative.")})
    with transaction.atomic():
        locked = _locked(account)
        before = {"status": locked.status, "paid_through": str(locked.current_period_end or "")}
        start = max(timezone.now(), locked.current_period_end or timezone.now())
        end = start + timedelta(days=30 * months)
        chosen = plan_key or locked.requested_plan_key or locked.plan_key
        if chosen:
            resolve_plan(locked, chosen)  # a BillingError for an unknown plan
            locked.plan_key = chosen
        locked.requested_plan_key = ""
        locked.provider = BillingAccount.Provider.OFFLINE
        locked.status = BillingAccount.Status.ACTIVE
        locked.current_period_end = end
        _settle(locked, reason="billing: offline payment recorded")
        _apply_plan_tier(locked, f"billing: {locked.plan_key}")
        locked.save()
        invoice = Invoice.objects.create(
            account=locked,
            provider=BillingAccount.Provider.OFFLINE,
            external_id=f"offline-{uuid.uuid4().hex[:16]}",
            number=f"OFF-{locked.tenant.slug}-{timezone.now():%Y%m%d%H%M}",
            status=Invoice.Status.PAID,
            currency=settings.BILLING_CURRENCY,
            amount_due=amount,
            amount_paid=amount,
            period_start=start,
            period_end=end,
            paid_at=timezone.now(),
            reference=reference,
        )
        record_operator_action(
            actor,
            "billing.offline_payment",
            locked.tenant,
            before,
            {
                "status": locked.status,
                "plan": locked.plan_key,
                "paid_through": str(end),
                "amount": amount,
                "reference": reference,
            },
        )
    return invoice
