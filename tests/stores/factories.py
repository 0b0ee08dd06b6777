"""Pickup stores for tests (orders and checkout tests can use them too)."""

from __future__ import annotations

import itertools
from typing import Any

from shop.stores import services
from shop.stores.models import Store
from tests.conftest import in_shop

_serial = itertools.count(1)

ALL_DAY = {day: [{"open": "00:00", "close": "24:00"}] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def store_data(**overrides: Any) -> dict[str, Any]:
    return {
        "name": f"门店 {next(_serial)}",
        "phone": "13800138000",
        "province": "广东省",
        "city": "深圳市",
        "district": "南山区",
        "address": "科技园南路 1 号",
        **overrides,
    }


def make_store(tenant: Any, **overrides: Any) -> Store:
    with in_shop(tenant):
        return services.store_create(tenant, store_data(**overrides))
