"""The console banner for billing trouble (past due, trial ending, canceled)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def billing_banner(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public" or not request.path.startswith("/console/"):
        return {}
    from billing.models import BillingAccount

    account = BillingAccount.objects.filter(tenant=tenant).first()
    if account is None:
        return {}
    now = timezone.now()
    if account.past_due_since and account.status not in ("active", "trialing"):
        deadline = account.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)
        return {"billing_banner": {"kind": "overdue", "deadline": deadline, "suspended": tenant.status_by == "billing"}}
    if account.status == "trial" and account.trial_ends_at and account.trial_ends_at <= now:
        deadline = account.trial_ends_at + timedelta(days=settings.BILLING_GRACE_DAYS)
        return {"billing_banner": {"kind": "trial_ended", "deadline": deadline}}
    if account.status == "trial" and account.trial_ends_at and account.trial_ends_at - now <= timedelta(days=3):
        return {"billing_banner": {"kind": "trial_ending", "deadline": account.trial_ends_at}}
    if account.cancel_at_period_end and account.current_period_end:
        return {"billing_banner": {"kind": "canceling", "deadline": account.current_period_end}}
    return {}
