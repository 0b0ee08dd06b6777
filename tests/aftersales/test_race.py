"""Two after-sale requests for the last units of a line at the same moment: exactly one
gets them. Deterministic: the second request runs while the first holds the order row
(it has counted what is claimed, not yet committed), and the first commits only once the
second is waiting on that row."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections

from shop.aftersales import selectors, services
from shop.aftersales.models import AfterSale
from tenants.services import shop_signup
from tests.aftersales.conftest import buyer_and_client, line_ids, paid_order, reason_id
from tests.conftest import PASSWORD, in_shop


def test_two_requests_race_for_the_same_units(live_db: list[str], monkeypatch: Any) -> None:
    live_db.append("aftersale-race")
    tenant = shop_signup(
        name="After-sales", slug="aftersale-race", email="race@aftersale.test", password=PASSWORD, tier="pro"
    ).tenant
    buyer, _client = buyer_and_client(tenant)
    order = paid_order(tenant, buyer, [(1_000, 2)])
    (line,) = line_ids(tenant, order)
    reason = reason_id(tenant)
    counted, release = threading.Event(), threading.Event()
    real_claimed = selectors.claimed_by_line

    def count_then_hold(locked_order: Any) -> Any:
        result = real_claimed(locked_order)
        if threading.current_thread().name == "first-request":
            counted.set()
            release.wait(10)  # the order row stays locked, the transaction open
        return result

    monkeypatch.setattr(selectors, "claimed_by_line", count_then_hold)
    outcomes: dict[str, Any] = {}

    def request(name: str) -> None:
        body = {"kind": "refund_only", "reason": reason, "lines": [{"line": line, "quantity": 2}]}
        try:
            with in_shop(tenant):
                outcomes[name] = services.aftersale_request(buyer, order, body).refund_amount
        except ValidationError as exc:
            outcomes[name] = exc.message_dict
        finally:
            connections.close_all()

    first = threading.Thread(target=request, args=("first",), name="first-request")
    first.start()
    assert counted.wait(10)
    second = threading.Thread(target=request, args=("second",), name="second-request")
    second.start()
    deadline = time.time() + 10
    while time.time() < deadline:  # until the second request waits for the order row
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= 1:
                break
        time.sleep(0.02)
    else:
        raise AssertionError("the second request never waited for the order row")
    release.set()
    first.join(10)
    second.join(10)
    assert outcomes["first"] == 2_000
    assert "lines" in outcomes["second"]  # told how many are left (none), nothing written
    with in_shop(tenant):
        assert [a.refund_amount for a in AfterSale.objects.all()] == [2_000]
