"""What the URL walk in tests/test_isolation.py needs to test every pattern that takes an
id: for each route prefix, how to make one object in a shop, whether a shop has an object
with that id, and how to log in there. A new pattern with ``<pk>`` must be added here, or
the walk fails and says so."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.test import Client

from tests.conftest import PASSWORD, in_shop, owner_client


@dataclass(frozen=True)
class Owned:
    prefix: str
    make: Callable[[Any], int]
    exists: Callable[[Any, int], bool]
    login: Callable[[Any], Client] = owner_client


_serial = itertools.count(1)


def _staff(tenant: Any) -> int:
    from shop import staff

    email = f"clerk{next(_serial)}-{tenant.slug}@walk.test"
    with in_shop(tenant):
        return int(staff.staff_add(tenant, email=email, name="", password=PASSWORD).pk)


def _staff_exists(tenant: Any, pk: int) -> bool:
    from shop import staff

    with in_shop(tenant):
        return bool(staff.staff_list().filter(pk=pk).exists())


def _product(tenant: Any, *, on_sale: bool = True) -> int:
    from shop.catalogue import services

    with in_shop(tenant):
        product = services.product_save(tenant, {"name": "Walk", "skus": [{"spec": {}, "price": 100, "stock": 1}]})
        if on_sale:
            services.product_set_status([product], "on_sale")
        return int(product.pk)


def _product_exists(tenant: Any, pk: int) -> bool:
    from shop.catalogue.models import Product

    with in_shop(tenant):
        return bool(Product.objects.filter(pk=pk).exists())


def _category(tenant: Any) -> int:
    from shop.catalogue import services

    with in_shop(tenant):
        return int(services.category_save(name=f"Walk {next(_serial)}").pk)


def _category_exists(tenant: Any, pk: int) -> bool:
    from shop.catalogue.models import Category

    with in_shop(tenant):
        return bool(Category.objects.filter(pk=pk).exists())


def _sku(tenant: Any) -> int:
    from shop.catalogue.models import Sku

    product = _product(tenant)
    with in_shop(tenant):
        return int(Sku.objects.get(product_id=product).pk)


def _sku_exists(tenant: Any, pk: int) -> bool:
    from shop.catalogue.models import Sku

    with in_shop(tenant):
        return bool(Sku.objects.filter(pk=pk).exists())


REGISTRY: list[Owned] = [
    Owned("console/staff/", _staff, _staff_exists),
    Owned("api/v1/console/staff/", _staff, _staff_exists),
    Owned("api/v1/catalogue/products/", _product, _product_exists),
    Owned("api/v1/console/products/", lambda t: _product(t, on_sale=False), _product_exists),
    Owned("console/catalogue/products/", lambda t: _product(t, on_sale=False), _product_exists),
    Owned("api/v1/console/categories/", _category, _category_exists),
    Owned("api/v1/console/skus/", _sku, _sku_exists),
]


def owned_for(route: str) -> Owned | None:
    route = route.replace("^", "")
    matches = [o for o in REGISTRY if route.startswith(o.prefix)]
    return max(matches, key=lambda o: len(o.prefix)) if matches else None
