"""django-tenants' executor, optionally limited to a sample of the shops.

``migrate_schemas`` lists every tenant and hands the list to its executor. With
``BENCH_PEER_SAMPLE=k`` (k > 0) the executor receives ``k`` evenly spaced schemas of that
list instead; with ``k = 0`` it receives none (what remains is the command's fixed cost:
interpreter, Django setup, the tenant query). Everything else is the stock executor."""

from __future__ import annotations

import os
from typing import Any

from django_tenants.migration_executors import get_executor as stock_get_executor


def sample(tenants: list[str], k: int) -> list[str]:
    ordered = sorted(tenants)
    if k >= len(ordered):
        return ordered
    if k <= 0:
        return []
    step = len(ordered) / k
    return [ordered[int(i * step)] for i in range(k)]


def get_executor(codename: str | None = None) -> Any:
    stock = stock_get_executor(codename=codename)
    limit = os.environ.get("BENCH_PEER_SAMPLE", "")
    if limit == "":
        return stock
    k = int(limit)

    class Sampled(stock):  # type: ignore[valid-type, misc]
        def run_migrations(self, tenants: Any = None) -> Any:
            return super().run_migrations(tenants=sample(list(tenants or []), k))

    return Sampled
