"""Two refunds of the same order line at the same moment, each within what the payment has
left but together more than the line paid: exactly one goes through. Deterministic: the
second starts exactly while the first has recorded its parts (the line's guarded update
done, not committed), and the first commits only once the second waits on the order."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections

from shop.payments import allocation, services
from shop.payments.models import Payment, Refund
from tenants.services import shop_signup
from tests.conftest import PASSWORD, in_shop
from tests.payments.conftest import buyer_of


def test_two_refunds_race_for_the_same_line(live_db: list[str], monkeypatch: Any) -> None:
    from shop.orders import services as orders
    from tests.orders.conftest import product

    live_db.append("line-race")
    tenant = shop_signup(name="Lines", slug="line-race", email="race@line.test", password=PASSWORD, tier="pro").tenant
    buyer, _client = buyer_of(tenant)
    cup, tea = product(tenant, price=4_000, name="Cup"), product(tenant, price=6_000, name="Tea")
    with in_shop(tenant):
        order = orders.order_create(
            buyer,
            items=[(cup.pk, 1, None), (tea.pk, 1, None)],
            fulfilment="delivery",
            address_id=buyer.addresses.get().pk,
        )
        services.offline_confirm(order, amount=order.payable, actor="staff:1")
        payment = Payment.objects.get(order=order)
        line = order.lines.order_by("id").first()
        assert line is not None and line.amount_paid == 4_000
    recorded, release = threading.Event(), threading.Event()
    real_record = allocation.record

    def record_then_hold(refund: Any, parts: Any) -> None:
        real_record(refund, parts)
        if threading.current_thread().name == "first-refund":
            recorded.set()
            release.wait(10)  # the order and the line stay locked, the transaction open

    monkeypatch.setattr(allocation, "record", record_then_hold)
    outcomes: dict[str, Any] = {}

    def refund(name: str, reference: str) -> None:
        try:
            with in_shop(tenant):
                outcomes[name] = services.order_refund(
                    order, lines=((line.pk, 1, None),), reason="broken", actor="staff:1", reference=reference
                ).status
        except ValidationError as exc:
            outcomes[name] = exc.message_dict
        finally:
            connections.close_all()

    first = threading.Thread(target=refund, args=("first", "TX-A"), name="first-refund")
    first.start()
    assert recorded.wait(10)
    second = threading.Thread(target=refund, args=("second", "TX-B"), name="second-refund")
    second.start()
    deadline = time.time() + 10
    while time.time() < deadline:  # until the second refund waits for the order row
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= 1:
                break
        time.sleep(0.02)
    else:
        raise AssertionError("the second refund never waited for the order row")
    release.set()
    first.join(10)
    second.join(10)
    assert outcomes["first"] == "succeeded"
    assert set(outcomes["second"]) & {"lines", "amount"}  # told what is left, nothing written
    with in_shop(tenant):
        assert Payment.objects.get(pk=payment.pk).refunded_amount == 4_000
        assert [(r.amount, r.reference) for r in Refund.objects.all()] == [(4_000, "TX-A")]
        line.refresh_from_db()
        assert (line.refunded_amount, line.refunded_quantity) == (4_000, 1)
