"""Create the configured plans in Stripe (idempotent): one product per tier, one plan per
price. Run once per Stripe account; afterwards prices live in Stripe."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.plans import plans
from platform_core import stripe_gateway as gateway


class Command(BaseCommand):
    help = "Create Fenxiao's products and plans in Stripe if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        if not gateway.stripe_enabled():
            raise CommandError("STRIPE_SECRET_KEY is not set (offline billing needs no plans in Stripe)")
        v1 = gateway.v1()
        for p in plans().values():
            product_id = f"fenxiao-{p.tier}"
            try:
                v1.products.retrieve(product_id)
            except gateway.StripeError:
                v1.products.create(params={"id": product_id, "name": f"Fenxiao {p.tier.title()}"})
            try:
                v1.plans.retrieve(p.stripe_id)
                self.stdout.write(f"{p.stripe_id}: exists")
            except gateway.StripeError:
                v1.plans.create(
                    params={
                        "id": p.stripe_id,
                        "product": product_id,
                        "amount": p.amount,
                        "currency": settings.BILLING_CURRENCY,
                        "interval": p.interval,
                    }
                )
                self.stdout.write(f"{p.stripe_id}: created")
