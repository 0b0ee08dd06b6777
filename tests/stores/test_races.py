"""The store limit under concurrency, run deterministically: the competing creation runs
while the first one holds the shop's store lock (DESIGN.md, Code conventions)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import OperationalError, connection, connections

from platform_core.features import LimitReached
from shop.stores import services
from shop.stores.models import Store
from tests.conftest import PASSWORD, in_shop
from tests.stores.factories import store_data


def test_two_creations_cannot_both_take_the_last_store(live_db: list[str], monkeypatch: Any) -> None:
    from tenants.services import shop_signup

    # A shop of its own: committed rows never reach the shared fixture shops.
    live_db.append("store-race")
    shop = shop_signup(
        name="Store race", slug="store-race", email="race@stores.test", password=PASSWORD, tier="standard"
    ).tenant  # standard: one store
    holding, release = threading.Event(), threading.Event()
    lock = services._lock_store_count

    def pausing_lock() -> None:
        lock()
        if threading.current_thread().name == "first-creator":
            holding.set()  # the first creation holds the lock and is about to count
            release.wait(10)

    monkeypatch.setattr(services, "_lock_store_count", pausing_lock)
    failures: list[BaseException] = []

    def first_create() -> None:
        try:
            with in_shop(shop):
                services.store_create(shop, store_data(name="First"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_create, name="first-creator")
    thread.start()
    try:
        assert holding.wait(10)
        with in_shop(shop):
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '300ms'")
            # The second creation cannot count the stores while the first one is counting: it waits.
            with pytest.raises(OperationalError, match="lock timeout"):
                services.store_create(shop, store_data(name="Second"))
        release.set()
        thread.join(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        assert failures == []
        with in_shop(shop):
            with pytest.raises(LimitReached):  # once the first committed, the limit holds
                services.store_create(shop, store_data(name="Second"))
            assert list(Store.objects.values_list("name", flat=True)) == ["First"]
    finally:
        release.set()
        thread.join(10)
