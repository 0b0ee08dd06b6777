"""Two refunds of one payment at the same moment, together more than was paid: exactly one
goes through. Deterministic: the second runs exactly while the first holds the payment
row (its guarded update done, not yet committed), and the first commits only once the
second is waiting on that row."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections

from shop.payments import records, services
from shop.payments.models import Payment, Refund
from tenants.services import shop_signup
from tests.conftest import PASSWORD, in_shop
from tests.payments.conftest import buyer_of, unpaid_order


def test_two_refunds_race_for_the_rest_of_a_payment(live_db: list[str], monkeypatch: Any) -> None:
    live_db.append("refund-race")
    tenant = shop_signup(
        name="Refunds", slug="refund-race", email="race@refund.test", password=PASSWORD, tier="pro"
    ).tenant
    buyer, _client = buyer_of(tenant)
    order = unpaid_order(tenant, buyer, price=10_000)
    with in_shop(tenant):
        services.offline_confirm(order, amount=10_000, actor="staff:1")
        payment = Payment.objects.get(order=order)
    taken, release = threading.Event(), threading.Event()
    real_take = records.take_refundable

    def take_then_hold(payment_pk: int, amount: int) -> bool:
        result = real_take(payment_pk, amount)
        if threading.current_thread().name == "first-refund":
            taken.set()
            release.wait(10)  # the payment row stays locked, the transaction open
        return result

    monkeypatch.setattr(records, "take_refundable", take_then_hold)
    outcomes: dict[str, Any] = {}

    def refund(name: str, reference: str) -> None:
        try:
            with in_shop(tenant):
                outcomes[name] = services.refund_payment(payment, 6_000, "退款", "staff:1", reference=reference).status
        except ValidationError as exc:
            outcomes[name] = exc.message_dict
        finally:
            connections.close_all()

    first = threading.Thread(target=refund, args=("first", "TX-A"), name="first-refund")
    first.start()
    assert taken.wait(10)
    second = threading.Thread(target=refund, args=("second", "TX-B"), name="second-refund")
    second.start()
    deadline = time.time() + 10
    while time.time() < deadline:  # until the second refund waits for the payment row
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= 1:
                break
        time.sleep(0.02)
    else:
        raise AssertionError("the second refund never waited for the payment row")
    release.set()
    first.join(10)
    second.join(10)
    assert outcomes["first"] == "succeeded"
    assert "amount" in outcomes["second"]  # told how much is left, nothing written
    with in_shop(tenant):
        assert Payment.objects.get(pk=payment.pk).refunded_amount == 6_000
        assert [(r.amount, r.reference) for r in Refund.objects.all()] == [(6_000, "TX-A")]
