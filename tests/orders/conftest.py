from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD, in_shop, shop_client


def product(tenant: Any, *, stock: int = 10, price: int = 9900, name: str = "Tea", on_sale: bool = True) -> Any:
    from shop.catalogue import services

    with in_shop(tenant):
        made = services.product_save(tenant, {"name": name, "skus": [{"spec": {}, "price": price, "stock": stock}]})
        if on_sale:
            services.product_set_status([made], "on_sale")
        return made.skus.get()


def member(tenant: Any, phone: str = "13800138000") -> Any:
    from shop.members import services

    with in_shop(tenant):
        made = services.member_register(phone=phone, password=PASSWORD, name="Buyer")
        services.address_create(
            made,
            recipient="张三",
            phone=phone,
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路 1 号",
        )
        return made


def member_client(tenant: Any, someone: Any) -> Client:
    from shop.members import services

    with in_shop(tenant):
        _token, key = services.token_issue(someone, name="test")
    return shop_client(tenant, HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def buyer(alpha: Any) -> Any:
    return member(alpha)
