"""Two buyers take the last unit at the same moment: exactly one order, stock 0, never
negative. Deterministic: the second buyer's order runs exactly while the first holds the
stock row, and the first commits only once the second is waiting on it."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db import connection, connections

from shop.orders import services
from tenants.services import shop_signup
from tests.conftest import PASSWORD, in_shop
from tests.orders.conftest import member, product


def test_two_buyers_race_for_the_last_unit(live_db: list[str], monkeypatch: Any) -> None:
    live_db.append("race-shop")
    tenant = shop_signup(name="Race", slug="race-shop", email="race@shop.test", password=PASSWORD, tier="pro").tenant
    sku = product(tenant, stock=1)
    first, second = member(tenant, "13800000001"), member(tenant, "13800000002")
    taken, release = threading.Event(), threading.Event()
    real_take = services._take_stock
    holder = {}

    def take_then_hold(lines: Any) -> Any:
        result = real_take(lines)
        if threading.current_thread().name == "first-buyer":
            holder["pid"] = connection.connection.info.backend_pid if hasattr(connection.connection, "info") else None
            taken.set()
            release.wait(10)  # keeps the row locked, transaction open
        return result

    monkeypatch.setattr(services, "_take_stock", take_then_hold)
    outcomes: dict[str, Any] = {}

    def buy(name: str, who: Any) -> None:
        try:
            with in_shop(tenant):
                order = services.order_create(
                    who, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=who.addresses.get().pk
                )
                outcomes[name] = order.number
        except services.OrderRefused as exc:
            outcomes[name] = exc.code
        finally:
            connections.close_all()

    a = threading.Thread(target=buy, args=("first", first), name="first-buyer")
    a.start()
    assert taken.wait(10)
    b = threading.Thread(target=buy, args=("second", second), name="second-buyer")
    b.start()
    # wait until the second buyer is blocked on the stock row the first one holds
    deadline = time.time() + 10
    while time.time() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= 1:
                break
        time.sleep(0.02)
    else:
        raise AssertionError("the second buyer never waited for the stock row")
    release.set()
    a.join(10)
    b.join(10)
    assert outcomes["second"] == "stock"  # sold out, told so
    assert outcomes["first"] != "stock"
    from shop.catalogue.models import Sku
    from shop.orders.models import Order

    with in_shop(tenant):
        assert Order.objects.count() == 1
        assert Sku.objects.get(pk=sku.pk).stock == 0
