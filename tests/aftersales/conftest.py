"""After-sales test helpers: a paid order of a few lines, its buyer's API client, the
merchant's, and shortcuts for the after-sales endpoints."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from tests.conftest import in_shop
from tests.orders.conftest import member, member_client, product


def post(client: Client, url: str, data: Any = None) -> Any:
    return client.post(url, data=json.dumps(data if data is not None else {}), content_type="application/json")


def paid_order(tenant: Any, buyer: Any, lines: list[tuple[int, int]], *, stock: int = 10) -> Any:
    """An order of ``lines`` = [(unit price, quantity)] (one product each), paid offline."""
    from shop.orders import services
    from shop.payments import services as payments

    skus = [product(tenant, price=price, stock=stock, name=f"Item {i}") for i, (price, _q) in enumerate(lines)]
    with in_shop(tenant):
        order = services.order_create(
            buyer,
            items=[(sku.pk, quantity, None) for sku, (_p, quantity) in zip(skus, lines, strict=True)],
            fulfilment="delivery",
            address_id=buyer.addresses.get().pk,
        )
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")
        order.refresh_from_db()
        return order


def delivered(tenant: Any, order: Any) -> Any:
    from shop.orders import services

    with in_shop(tenant):
        services.order_ship(order, carrier="顺丰", tracking_number="SF1", actor="staff:1")
        return services.order_confirm_delivery(order, actor="staff:1")


def buyer_and_client(tenant: Any, phone: str = "13800138000") -> tuple[Any, Client]:
    someone = member(tenant, phone)
    return someone, member_client(tenant, someone)


def reason_id(tenant: Any, name: str = "质量问题") -> int:
    from shop.aftersales import selectors

    with in_shop(tenant):
        return int(selectors.reasons().get(name=name).pk)


def line_ids(tenant: Any, order: Any) -> list[int]:
    with in_shop(tenant):
        return list(order.lines.order_by("id").values_list("pk", flat=True))


def ask(client: Client, tenant: Any, order: Any, lines: list[tuple[int, int]], kind: str = "refund_only") -> Any:
    body = {
        "kind": kind,
        "reason": reason_id(tenant),
        "note": "坏了",
        "lines": [{"line": line, "quantity": quantity} for line, quantity in lines],
    }
    return post(client, f"/api/v1/orders/{order.pk}/aftersales/", body)


def stock_of(tenant: Any, order: Any) -> list[int]:
    from shop.catalogue.models import Sku

    with in_shop(tenant):
        return [Sku.objects.get(pk=line.sku_id).stock for line in order.lines.order_by("id")]
