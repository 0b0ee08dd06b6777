"""Shared pieces of the decoration tests: blocks, products, JSON requests."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import in_shop


def block(block_type: str, block_id: str | None = None, **config: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": block_type, "config": config}
    if block_id:
        out["id"] = block_id
    return out


def media(tenant: Any, name: str = "decoration/banner.png") -> str:
    return f"/media/{tenant.schema_name}/{name}"


def put(client: Any, url: str, data: Any) -> Any:
    return client.put(url, data=json.dumps(data), content_type="application/json")


def post(client: Any, url: str, data: Any = None) -> Any:
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def draft_url(slug: str = "home") -> str:
    return f"/api/v1/console/pages/{slug}/draft/"


def product(
    tenant: Any,
    name: str = "纯棉T恤",
    *,
    price: int = 9900,
    list_price: int | None = None,
    status: str = "on_sale",
    category: int | None = None,
    sales: int = 0,
) -> int:
    from shop.catalogue import services
    from shop.catalogue.models import Product

    with in_shop(tenant):
        saved = services.product_save(
            tenant,
            {
                "name": name,
                "category": category,
                "skus": [{"spec": {}, "price": price, "stock": 5, "list_price": list_price}],
            },
        )
        if status != "draft":
            services.product_set_status([saved], status)
        if sales:
            Product.objects.filter(pk=saved.pk).update(sales_count=sales)
        return int(saved.pk)


def category(tenant: Any, name: str, parent: int | None = None) -> int:
    from shop.catalogue import services
    from shop.catalogue.models import Category

    with in_shop(tenant):
        parent_obj = Category.objects.get(pk=parent) if parent else None
        return int(services.category_save(name=name, parent=parent_obj).pk)
