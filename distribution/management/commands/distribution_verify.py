"""Check every shop's commission ledger: transactions balance, cached balances equal the
sums of their entries. Exit status 1 if any shop has a problem."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_tenant_model, schema_context

from distribution import ledger


class Command(BaseCommand):
    help = "Verify the commission ledger of every shop (or of --shop SLUG)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--shop", help="only this shop's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        shops = get_tenant_model().objects.exclude(schema_name="public")
        if options.get("shop"):
            shops = shops.filter(slug=options["shop"])
        bad = 0
        for shop in shops:
            with schema_context(shop.schema_name):
                problems = ledger.verify_balances()
            for problem in problems:
                self.stderr.write(f"{shop.slug}: {problem}")
            bad += bool(problems)
        if bad:
            raise CommandError(f"{bad} shop(s) with ledger problems")
        self.stdout.write(f"ledger sound in {shops.count()} shop(s)")
