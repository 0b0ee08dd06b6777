from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tenants.schemas import refill_pool


class Command(BaseCommand):
    help = "Bring pooled shop schemas up to date and top the pool up (what the beat task does)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        result = refill_pool(options["size"])
        self.stdout.write(f"pool: {result['ready']} ready, {result['created']} created, {result['upgraded']} upgraded")
