"""The plans merchants can buy. Prices live in Stripe; configuration names them.

Which tier unlocks which features stays in ``platform_core.features``: a plan only says
which tier it buys. The amounts below are what ``billing_sync_plans`` creates in Stripe
and what the offline provider bills; with Stripe configured, the console shows the
amounts Stripe reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Plan:
    key: str
    tier: str
    interval: str  # "month" or "year"
    amount: int  # minor units of BILLING_CURRENCY
    stripe_id: str

    @property
    def monthly_amount(self) -> int:
        return self.amount if self.interval == "month" else self.amount // 12


def plans() -> dict[str, Plan]:
    conf = settings.BILLING_PLANS
    return {
        key: Plan(key=key, tier=v["tier"], interval=v["interval"], amount=v["amount"], stripe_id=v["stripe_id"])
        for key, v in conf.items()
    }


def plan(key: str) -> Plan | None:
    return plans().get(key)


def plan_for_stripe_id(stripe_id: str) -> Plan | None:
    return next((p for p in plans().values() if p.stripe_id == stripe_id), None)
