"""What placing an order costs the database: at most 10 queries for ``order_create`` and
a budget for the whole ``POST /api/v1/orders/`` request, counted on committed data (so
transactions are BEGIN/COMMIT as in production, not test savepoints) once the process
knows the shop (host record, settings, shipping template and activity calendar are kept
per process: ``platform_core.localcache``). A change that adds a query per order fails
here with the list of what is sent."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tests.conftest import PASSWORD

ORDER_CREATE_BUDGET = 10
REQUEST_BUDGET = 12


def listing(captured: CaptureQueriesContext) -> str:
    return "\n".join(f"  {' '.join(q['sql'].split())[:160]}" for q in captured.captured_queries)


@pytest.fixture
def shop(live_db: list[str]) -> Iterator[dict[str, Any]]:
    from shop.catalogue import services as catalogue
    from shop.checkout.models import ShippingTemplate
    from shop.members import services as members
    from shop.models import ShopSettings
    from tenants.services import shop_host, shop_signup

    live_db.append("qbudget")
    tenant = shop_signup(
        name="Query budget", slug="qbudget", email="owner@qbudget.test", password=PASSWORD, tier="pro"
    ).tenant
    with schema_context(tenant.schema_name):
        ShopSettings.current()  # (made once, with the shop's first order or settings page)
        ShippingTemplate.objects.create(name="默认", default_fee=800, free_over=9900, is_default=True)
        product = catalogue.product_save(
            tenant,
            {
                "name": "Tea",
                "specs": [{"name": "size", "values": ["S", "L"]}],
                "skus": [{"spec": {"size": v}, "price": 3900, "stock": 500} for v in ("S", "L")],
            },
        )
        catalogue.product_set_status([product], "on_sale")
        member = members.member_register(phone="13900000001", password=PASSWORD, name="Buyer")
        address = members.address_create(
            member,
            recipient="张三",
            phone="13900000001",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="1",
        )
        _token, key = members.token_issue(member, name="bench")
        skus = list(product.skus.order_by("id").values_list("id", flat=True))
    yield {
        "tenant": tenant,
        "member": member,
        "address": address.pk,
        "skus": skus,
        "product": product.pk,
        "client": Client(HTTP_HOST=shop_host(tenant), HTTP_AUTHORIZATION=f"Bearer {key}"),
    }


def place(shop: dict[str, Any], sku: int) -> Any:
    """``order_create`` as the order API calls it (in the shop's schema: callers)."""
    from shop.orders import services

    return services.order_create(
        shop["member"],
        items=[(sku, 1, 3900)],
        fulfilment="delivery",
        address_id=shop["address"],
        idempotency_key=secrets.token_hex(12),
    )


def post(client: Client, path: str, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_order_create_sends_at_most_ten_queries(shop: dict[str, Any]) -> None:
    """Counted: every statement sent, BEGIN and COMMIT included."""
    with schema_context(shop["tenant"].schema_name):
        place(shop, shop["skus"][0])  # the process reads the shop's settings, template and calendar once
        for sku in shop["skus"]:
            with CaptureQueriesContext(connection) as captured:
                order = place(shop, sku)
            assert order.payable == 3900 + 800
            assert len(captured) <= ORDER_CREATE_BUDGET, f"{len(captured)} queries:\n{listing(captured)}"
        with CaptureQueriesContext(connection) as shown:
            assert [line.sku_id for line in order.lines.all()] == [shop["skus"][-1]]
            assert [entry.to_status for entry in order.log.all()] == ["unpaid"]
        assert len(shown) == 0, "the order comes back with its lines and log"


def test_the_whole_order_request_has_a_query_budget(shop: dict[str, Any]) -> None:
    client = shop["client"]
    for round_ in range(3):
        assert post(client, "/api/v1/cart/items/", {"sku": shop["skus"][0], "quantity": 2}).status_code == 201
        with CaptureQueriesContext(connection) as captured:
            placed = post(
                client,
                "/api/v1/orders/",
                {"fulfilment": "delivery", "address": shop["address"]},
                HTTP_IDEMPOTENCY_KEY=f"order-{round_}-{secrets.token_hex(6)}",
            )
        assert placed.status_code == 201, placed.content
        body = placed.json()
        assert (
            body["payable"] == 7800 + 800
            and body["lines"][0]["quantity"] == 2
            and body["log"][0]["to_status"] == "unpaid"
        )
        if round_:  # the first request of a process reads the host's shop record
            assert len(captured) <= REQUEST_BUDGET, f"{len(captured)} queries:\n{listing(captured)}"
        assert client.get("/api/v1/cart/").json()["items"] == []
    detail = client.get(f"/api/v1/orders/{body['id']}/").json()
    assert {k: v for k, v in detail.items()} == body  # the response is what a read shows


def test_a_per_member_limit_still_counts_every_earlier_order(shop: dict[str, Any]) -> None:
    """The member's row is locked (and the order priced again) only when such a limit
    applies: the limit holds, and the orders without one skip the lock."""
    from datetime import timedelta

    from django.utils import timezone

    from shop.marketing import services as marketing

    with schema_context(shop["tenant"].schema_name):
        now = timezone.now()
        marketing.discount_save(
            {
                "name": "Limit one",
                "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "per_member_limit": 1,
                "items": [{"product": shop["product"], "sku": shop["skus"][1], "price": 2900}],
            }
        )
        with CaptureQueriesContext(connection) as limited:
            first = place(shop, shop["skus"][1])
        second = place(shop, shop["skus"][1])
        with CaptureQueriesContext(connection) as plain:
            place(shop, shop["skus"][0])
    assert (first.payable, second.payable) == (2900 + 800, 3900 + 800)  # one at the discount price
    assert any("FOR UPDATE" in q["sql"] and "members_member" in q["sql"] for q in limited.captured_queries)
    assert not any("members_member" in q["sql"] and "FOR UPDATE" in q["sql"] for q in plain.captured_queries)
