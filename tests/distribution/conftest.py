"""Distribution test helpers: switch distribution on with given knobs, make distributors
in a chain, pay orders through the real services with the events delivered, and read
balances."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.aftersales.conftest import paid_order
from tests.conftest import in_shop
from tests.orders.conftest import member

_phones = itertools.count(1)


def phone() -> str:
    return f"1370000{next(_phones):04d}"


def configure(tenant: Any, **knobs: Any) -> Any:
    from distribution import config

    data = {"enabled": True, "hold_days": 7, **knobs}
    with in_shop(tenant):
        return config.settings_update(tenant, data)


def distributor(tenant: Any, parent: Any = None, *, buyer: Any = None) -> Any:
    """An active distributor (a new member, bound to ``parent`` first when given)."""
    from distribution import services
    from distribution.models import BindingSource

    someone = buyer or member(tenant, phone())
    with in_shop(tenant):
        if parent is not None:
            services.bind(someone, parent, source=BindingSource.LINK, evidence={}, actor="test")
        return services.distributor_qualify(someone, reason="test")


def chain(tenant: Any, depth: int) -> list[Any]:
    """Distributors root → … (``depth`` of them), each the parent of the next."""
    made: list[Any] = []
    for _n in range(depth):
        made.append(distributor(tenant, made[-1] if made else None))
    return made


def bound_buyer(tenant: Any, to: Any) -> Any:
    from distribution import services
    from distribution.models import BindingSource

    someone = member(tenant, phone())
    with in_shop(tenant):
        services.bind(someone, to, source=BindingSource.LINK, evidence={}, actor="test")
    return someone


@pytest.fixture
def deliver_events(django_capture_on_commit_callbacks: Any) -> Any:
    """Run a block with the after-commit events (order paid, after-sale closed) delivered."""

    @contextmanager
    def run() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run


def pay(tenant: Any, buyer: Any, lines: list[tuple[int, int]], deliver: Any) -> Any:
    with deliver():
        return paid_order(tenant, buyer, lines)


def lines_of(tenant: Any, order: Any) -> list[Any]:
    from distribution.models import CommissionLine

    with in_shop(tenant):
        return list(CommissionLine.objects.filter(order=order).order_by("order_line_id", "level"))


def balances(tenant: Any, d: Any) -> dict[str, int]:
    from distribution import ledger

    with in_shop(tenant):
        return ledger.balances(d.pk)


def sound(tenant: Any) -> None:
    from distribution import ledger

    with in_shop(tenant):
        assert ledger.verify_balances() == []


def complete(tenant: Any, order: Any, days_ago: int = 30) -> None:
    """The order completed ``days_ago`` days ago (through the real transitions)."""
    from datetime import timedelta

    from django.utils import timezone

    from shop.orders import services
    from shop.orders.models import Order

    with in_shop(tenant):
        services.order_ship(order, carrier="顺丰", tracking_number="SF1", actor="staff:1")
        services.order_confirm_delivery(order, actor="staff:1")
        services.order_complete(order, actor="staff:1")
        Order.objects.filter(pk=order.pk).update(completed_at=timezone.now() - timedelta(days=days_ago))


def refund_lines(tenant: Any, order: Any, rows: list[tuple[int, int]], deliver: Any) -> Any:
    """The merchant refunds ``rows`` = [(order line id, fen)] from the order page (its
    offline payment, the money already sent back), with the events delivered."""
    from shop.payments import services as payments
    from shop.payments.allocation import RefundFor
    from shop.payments.models import Payment

    with in_shop(tenant), deliver():
        payment = Payment.objects.get(order=order, pays_order=True)
        return payments.refund_payment(
            payment,
            sum(amount for _line, amount in rows),
            "test",
            "staff:1",
            reference="bank 1",
            refund_for=RefundFor(lines=tuple((line, 0, amount) for line, amount in rows)),
        )
