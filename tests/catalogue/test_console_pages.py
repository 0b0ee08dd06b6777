"""The merchant's product pages: add a product with a specification grid, bulk on/off sale."""

from __future__ import annotations

from typing import Any

import pytest

from shop.catalogue.console import parse_yuan
from shop.catalogue.models import Product
from tenants.services import tenant_set_feature_override
from tests.conftest import in_shop, owner_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("99", 9900),
        ("99.9", 9990),
        ("99.90", 9990),
        ("0.01", 1),
        ("1,299.5", 129950),
        ("", None),
        ("9.999", None),
        ("-1", None),
        ("abc", None),
        ("1e3", None),
    ],
)
def test_prices_typed_in_yuan_become_exact_fen(raw: str, fen: int | None) -> None:
    assert parse_yuan(raw) == fen


def test_merchant_adds_a_product_with_a_spec_grid_and_puts_it_on_sale(alpha: Any) -> None:
    client = owner_client(alpha)
    form = {"name": "帆布包", "spec_lines": "颜色: 米白，藏青", "code": "BAG"}
    grid = client.post("/console/catalogue/products/new/", {**form, "refresh": "1"})
    page = grid.content.decode()
    assert grid.status_code == 200 and "颜色: 米白" in page and "颜色: 藏青" in page
    bad = client.post(
        "/console/catalogue/products/new/",
        {**form, "price-颜色=米白": "59.9", "stock-颜色=米白": "10", "price-颜色=藏青": "abc", "stock-颜色=藏青": "3"},
    )
    assert bad.status_code == 400 and 'value="59.9"' in bad.content.decode()  # what was typed stays
    with in_shop(alpha):
        assert not Product.objects.exists()
    ok = client.post(
        "/console/catalogue/products/new/",
        {**form, "price-颜色=米白": "59.9", "stock-颜色=米白": "10", "price-颜色=藏青": "69", "stock-颜色=藏青": "3"},
    )
    assert ok.status_code == 302
    with in_shop(alpha):
        product = Product.objects.get()
        assert sorted(product.skus.values_list("price", "stock")) == [(5990, 10), (6900, 3)]
    listing = client.get("/console/catalogue/products/").content.decode()
    assert "帆布包" in listing and "¥59.90" in listing
    client.post("/console/catalogue/products/", {"ids": [product.pk], "status": "on_sale"})
    with in_shop(alpha):
        assert Product.objects.get().status == "on_sale"


def test_the_product_limit_shows_the_upgrade_path(alpha: Any) -> None:
    tenant_set_feature_override(alpha, "products", 0, actor=None)
    response = owner_client(alpha).post(
        "/console/catalogue/products/new/", {"name": "X", "spec_lines": "", "price-": "1", "stock-": "1"}
    )
    assert response.status_code == 403 and "/console/billing/" in response.content.decode()
