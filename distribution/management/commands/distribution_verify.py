"""Reconcile every shop's money (``distribution.verify``): the commission ledger balances,
and commission agrees with the orders, payments and refunds it comes from, per order
line, per payment, per commission line and per distributor; the shop balances agree
with their entries. Prints each finding; exit status 1 if any shop has one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django_tenants.utils import get_tenant_model, schema_context

from distribution import verify
from platform_core.checks import describe


class Command(BaseCommand):
    help = "Reconcile the commission of every shop (or of --shop SLUG) with its orders, payments and refunds."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--shop", help="only this shop's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        shops = get_tenant_model().objects.exclude(schema_name="public").order_by("slug")
        if options.get("shop"):
            shops = shops.filter(slug=options["shop"])
        bad = 0
        with translation.override("en"):
            for shop in shops:
                with schema_context(shop.schema_name):
                    found = verify.verify_shop()
                for finding in found:
                    self.stderr.write(f"{shop.slug}: {finding.code}: {finding.subject}: {describe(finding)}")
                bad += bool(found)
        if bad:
            raise CommandError(f"{bad} shop(s) with findings")
        self.stdout.write(f"reconciled: nothing found in {shops.count()} shop(s)")
