"""Two orders paid at the same moment from a balance that covers one: exactly one is paid,
the other is refused, the balance never goes below zero and the ledger holds.
Deterministic: the second payment runs exactly while the first holds the balance row (its
guarded decrease done, not yet committed), and the first commits only once the second is
waiting on that row."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections

from shop.orders import services as orders
from shop.payments import services as payments
from tenants.services import shop_signup
from tests.conftest import PASSWORD, in_shop
from tests.orders.conftest import member
from tests.payments.conftest import unpaid_order


def test_two_orders_race_for_one_balance(live_db: list[str], monkeypatch: Any) -> None:
    from shop.orders.models import Order
    from shop.payments.models import Payment
    from shop.wallet import services as wallet
    from shop.wallet.models import WalletEntry

    live_db.append("wallet-race")
    tenant = shop_signup(
        name="Wallet race", slug="wallet-race", email="race@wallet.test", password=PASSWORD, tier="pro"
    ).tenant
    buyer = member(tenant, "13800000009")
    first_order = unpaid_order(tenant, buyer, price=6_000)
    second_order = unpaid_order(tenant, buyer, price=6_000)
    with in_shop(tenant):
        wallet.credit(buyer, 10_000, kind=WalletEntry.Kind.ADJUST, reference="top-up")
    debited, release = threading.Event(), threading.Event()
    real_mark_paid = orders.order_mark_paid

    def mark_paid_then_hold(order: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first-payment":
            debited.set()
            release.wait(10)  # the balance row stays locked, the transaction open
        return real_mark_paid(order, **kwargs)

    monkeypatch.setattr(orders, "order_mark_paid", mark_paid_then_hold)
    outcomes: dict[str, Any] = {}

    def pay(name: str, order: Any) -> None:
        try:
            with in_shop(tenant):
                outcomes[name] = payments.payment_start(order, "balance", actor="member:test")["status"]
        except ValidationError as exc:
            outcomes[name] = sorted(exc.message_dict)
        finally:
            connections.close_all()

    a = threading.Thread(target=pay, args=("first", first_order), name="first-payment")
    a.start()
    assert debited.wait(10)
    b = threading.Thread(target=pay, args=("second", second_order), name="second-payment")
    b.start()
    deadline = time.time() + 10
    while time.time() < deadline:  # until the second payment waits for the balance row
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= 1:
                break
        time.sleep(0.02)
    else:
        raise AssertionError("the second payment never waited for the balance row")
    release.set()
    a.join(10)
    b.join(10)
    assert outcomes == {"first": "succeeded", "second": ["provider"]}
    with in_shop(tenant):
        assert Order.objects.get(pk=first_order.pk).status == Order.Status.PAID
        assert Order.objects.get(pk=second_order.pk).status == Order.Status.UNPAID
        assert Payment.objects.count() == 1
        assert wallet.balance(buyer) == 4_000 and wallet.verify() == []
        assert WalletEntry.objects.filter(kind=WalletEntry.Kind.SPEND_ORDER).count() == 1
