"""Catalogue through the API: products with specs generating SKUs, validation, the tier's
product limit, images checked by content, storefront search/filter/sort, isolation."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from shop.catalogue.models import Product, Sku
from tenants.services import tenant_set_feature_override
from tests.conftest import in_shop, owner_client, shop_client

pytestmark = pytest.mark.django_db

TEE: dict[str, Any] = {
    "name": "纯棉T恤",
    "code": "TEE-1",
    "specs": [{"name": "颜色", "values": ["白", "黑"]}, {"name": "尺码", "values": ["M", "L"]}],
    "skus": [
        {"spec": {"颜色": c, "尺码": s}, "price": 9900 if c == "白" else 10900, "stock": 10, "code": f"TEE-{c}-{s}"}
        for c in ("白", "黑")
        for s in ("M", "L")
    ],
}


def post(client: Any, url: str, data: Any) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json")


def create(tenant: Any, data: dict[str, Any] | None = None, on_sale: bool = True) -> dict[str, Any]:
    client = owner_client(tenant)
    response = post(client, "/api/v1/console/products/", data or TEE)
    assert response.status_code == 201, response.content
    body = response.json()
    if on_sale:
        assert (
            post(client, "/api/v1/console/products/status/", {"ids": [body["id"]], "status": "on_sale"}).status_code
            == 200
        )
    return dict(body)


def test_specs_generate_one_sku_per_combination_with_its_own_price_and_stock(alpha: Any) -> None:
    body = create(alpha, on_sale=False)
    assert len(body["skus"]) == 4
    combos = sorted((s["spec_values"]["颜色"], s["spec_values"]["尺码"]) for s in body["skus"])
    assert combos == [("白", "L"), ("白", "M"), ("黑", "L"), ("黑", "M")]
    assert (body["min_price"], body["max_price"]) == (9900, 10900)
    assert body["status"] == "draft"
    # drafts are invisible to shoppers
    assert shop_client(alpha).get(f"/api/v1/catalogue/products/{body['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"skus": []}, "skus"),
        ({"skus": TEE["skus"][:3]}, "skus"),  # a combination without price
        ({"skus": [dict(TEE["skus"][0], price=-1), *TEE["skus"][1:]]}, "skus"),
        ({"skus": [dict(TEE["skus"][0], price=99.5), *TEE["skus"][1:]]}, "skus"),  # money is whole fen
        ({"skus": [dict(TEE["skus"][0], stock=-3), *TEE["skus"][1:]]}, "skus"),
        ({"specs": [{"name": "颜色", "values": ["白", "白"]}]}, "specs"),
        ({"specs": [{"name": f"d{i}", "values": ["a"]} for i in range(4)]}, "specs"),
        ({"category": 999999}, "category"),
    ],
)
def test_bad_products_get_field_errors_and_nothing_is_written(alpha: Any, change: dict[str, Any], field: str) -> None:
    response = post(owner_client(alpha), "/api/v1/console/products/", {**TEE, **change})
    assert response.status_code == 400 and field in response.json(), response.content
    with in_shop(alpha):
        assert not Product.objects.exists() and not Sku.objects.exists()


def test_duplicate_codes_are_field_errors(alpha: Any) -> None:
    create(alpha)
    again = post(
        owner_client(alpha),
        "/api/v1/console/products/",
        {**TEE, "code": "tee-1", "skus": [dict(s, code="") for s in TEE["skus"]]},
    )
    assert again.status_code == 400 and "code" in again.json()
    with in_shop(alpha):
        assert Product.objects.count() == 1


def test_changing_specs_keeps_existing_skus_and_retires_removed_ones(alpha: Any) -> None:
    body = create(alpha)
    white_m = next(s["id"] for s in body["skus"] if s["spec_values"] == {"颜色": "白", "尺码": "M"})
    specs = [{"name": "颜色", "values": ["白"]}, {"name": "尺码", "values": ["M", "XL"]}]
    # the kept SKU's stock moves from the 10 the merchant saw; the new one starts at 5
    skus = [
        {"spec": {"颜色": "白", "尺码": "M"}, "price": 9900, "stock": 5, "stock_expected": 10},
        {"spec": {"颜色": "白", "尺码": "XL"}, "price": 9900, "stock": 5},
    ]
    response = owner_client(alpha).put(
        f"/api/v1/console/products/{body['id']}/",
        data=json.dumps({**TEE, "code": "TEE-1", "specs": specs, "skus": skus}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    active = {s["id"]: s for s in response.json()["skus"] if s["is_active"]}
    assert white_m in active and active[white_m]["stock"] == 5  # same SKU id: orders keep pointing at it
    with in_shop(alpha):
        assert Sku.objects.filter(product_id=body["id"], is_active=False).count() == 3  # retired, not deleted


def test_the_tiers_product_limit_is_enforced_with_a_clear_message(alpha: Any) -> None:
    tenant_set_feature_override(alpha, "products", 1, actor=None, reason="test")
    create(alpha, on_sale=False)
    refused = post(
        owner_client(alpha),
        "/api/v1/console/products/",
        {**TEE, "code": "", "skus": [dict(s, code="") for s in TEE["skus"]]},
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "limit_reached" and refused.json()["limit"] == 1
    with in_shop(alpha):
        assert Product.objects.count() == 1


def test_a_product_goes_on_sale_only_with_an_active_sku(alpha: Any) -> None:
    body = create(alpha, on_sale=False)
    with in_shop(alpha):
        Sku.objects.filter(product_id=body["id"]).update(is_active=False)
    response = post(owner_client(alpha), "/api/v1/console/products/status/", {"ids": [body["id"]], "status": "on_sale"})
    assert response.status_code == 400 and "status" in response.json()


def png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_are_checked_by_content_size_and_pixels(alpha: Any, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    body = create(alpha)
    client = owner_client(alpha)
    url = f"/api/v1/console/products/{body['id']}/images/"
    fake = SimpleUploadedFile("photo.png", b"<?php echo 'not an image'; ?>", content_type="image/png")
    assert client.post(url, {"image": fake}).status_code == 400
    huge = SimpleUploadedFile("big.png", png(6000, 5000), content_type="image/png")  # 30 megapixels
    assert client.post(url, {"image": huge}).status_code == 400
    ok = client.post(url, {"image": SimpleUploadedFile("x.exe", png(), content_type="application/octet-stream")})
    assert ok.status_code == 201, ok.content
    image = ok.json()
    assert (image["width"], image["height"]) == (40, 30) and image["url"].startswith("/media/shop_alpha/products/")
    assert image["url"].endswith(".png")  # named by what it is, not by what it claimed
    assert (tmp_path / image["url"].removeprefix("/media/")).exists()
    listed = shop_client(alpha).get("/api/v1/catalogue/products/").json()["results"][0]
    assert listed["image"] == image["url"]


def test_storefront_search_filter_and_sort(alpha: Any) -> None:
    client = owner_client(alpha)
    shoes = post(client, "/api/v1/console/categories/", {"name": "鞋"}).json()
    running = post(client, "/api/v1/console/categories/", {"name": "跑鞋", "parent": shoes["id"]}).json()
    create(alpha)  # the tee, 99-109
    create(
        alpha,
        {
            "name": "Trail Runner 跑鞋",
            "category": running["id"],
            "skus": [{"spec": {}, "price": 59900, "stock": 3, "code": "TR-1"}],
        },
    )
    create(alpha, {"name": "Sandal", "category": shoes["id"], "skus": [{"spec": {}, "price": 19900, "stock": 3}]})
    shop = shop_client(alpha)

    def names(**params: Any) -> list[str]:
        response = shop.get("/api/v1/catalogue/products/", params)
        assert response.status_code == 200, response.content
        return [p["name"] for p in response.json()["results"]]

    assert names(q="trail") == ["Trail Runner 跑鞋"]
    assert names(q="TR-1") == ["Trail Runner 跑鞋"]  # by SKU code
    assert names(q="tee-黑-m") == ["纯棉T恤"]
    assert set(names(category=shoes["id"])) == {"Trail Runner 跑鞋", "Sandal"}  # with subcategories
    assert names(min_price=20000) == ["Trail Runner 跑鞋"]
    assert names(sort="price_asc") == ["纯棉T恤", "Sandal", "Trail Runner 跑鞋"]
    assert names(sort="price_desc")[0] == "Trail Runner 跑鞋"
    assert shop.get("/api/v1/catalogue/products/", {"sort": "random"}).status_code == 400
    assert shop.get("/api/v1/catalogue/products/", {"min_price": "1.5"}).status_code == 400
    tree = shop.get("/api/v1/catalogue/categories/").json()
    assert tree == [
        {"id": shoes["id"], "name": "鞋", "children": [{"id": running["id"], "name": "跑鞋", "children": []}]}
    ]


def test_categories_nest_at_most_three_deep_and_never_into_themselves(alpha: Any) -> None:
    client = owner_client(alpha)
    a = post(client, "/api/v1/console/categories/", {"name": "A"}).json()
    b = post(client, "/api/v1/console/categories/", {"name": "B", "parent": a["id"]}).json()
    c = post(client, "/api/v1/console/categories/", {"name": "C", "parent": b["id"]}).json()
    assert post(client, "/api/v1/console/categories/", {"name": "D", "parent": c["id"]}).status_code == 400
    loop = client.put(
        f"/api/v1/console/categories/{a['id']}/",
        data=json.dumps({"name": "A", "parent": c["id"]}),
        content_type="application/json",
    )
    assert loop.status_code == 400
    assert (
        post(client, "/api/v1/console/categories/", {"name": "B", "parent": a["id"]}).status_code == 400
    )  # same name here


def test_product_types_carry_attributes_products_must_fill(alpha: Any) -> None:
    client = owner_client(alpha)
    kind = post(
        client,
        "/api/v1/console/product-types/",
        {
            "name": "服装",
            "attributes": [
                {"key": "material", "label": "材质", "kind": "text", "required": True},
                {"key": "season", "label": "季节", "kind": "choice", "choices": ["春夏", "秋冬"]},
            ],
        },
    ).json()
    missing = post(
        client, "/api/v1/console/products/", {**TEE, "product_type": kind["id"], "attributes": {"season": "冬"}}
    )
    assert missing.status_code == 400 and len(missing.json()["attributes"]) == 2
    ok = post(
        client,
        "/api/v1/console/products/",
        {**TEE, "product_type": kind["id"], "attributes": {"material": "棉", "season": "春夏"}},
    )
    assert ok.status_code == 201 and ok.json()["attributes"] == {"material": "棉", "season": "春夏"}


def test_stock_never_goes_below_zero_even_by_sql(alpha: Any) -> None:
    from django.db import IntegrityError, transaction

    body = create(alpha)
    with in_shop(alpha), pytest.raises(IntegrityError), transaction.atomic():
        Sku.objects.filter(product_id=body["id"]).update(stock=-1)


def test_one_shops_catalogue_is_invisible_to_another(alpha: Any, beta: Any) -> None:
    body = create(alpha)
    assert shop_client(beta).get(f"/api/v1/catalogue/products/{body['id']}/").status_code == 404
    assert shop_client(beta).get("/api/v1/catalogue/products/").json()["count"] == 0
    beta_owner = owner_client(beta)
    assert beta_owner.get(f"/api/v1/console/products/{body['id']}/").status_code == 404
    assert (
        beta_owner.put(
            f"/api/v1/console/products/{body['id']}/", data=json.dumps(TEE), content_type="application/json"
        ).status_code
        == 404
    )
    assert (
        post(beta_owner, "/api/v1/console/products/status/", {"ids": [body["id"]], "status": "off_sale"}).status_code
        == 400
    )
    sku_id = body["skus"][0]["id"]
    assert post(beta_owner, f"/api/v1/console/skus/{sku_id}/stock/", {"stock": 0}).status_code == 404
    assert shop_client(alpha).get(f"/api/v1/catalogue/products/{body['id']}/").status_code == 200


def test_console_endpoints_need_a_console_login(alpha: Any) -> None:
    assert shop_client(alpha).get("/api/v1/console/products/").status_code == 401
    assert post(shop_client(alpha), "/api/v1/console/products/", TEE).status_code == 401


def test_the_cached_product_list_changes_with_the_catalogue_and_per_shop(
    alpha: Any, beta: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        body = create(alpha)
    shop = shop_client(alpha)
    assert [p["name"] for p in shop.get("/api/v1/catalogue/products/").json()["results"]] == ["纯棉T恤"]
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client(alpha).put(
            f"/api/v1/console/products/{body['id']}/",
            data=json.dumps({**TEE, "name": "亚麻T恤"}),
            content_type="application/json",
        )
    assert response.status_code == 200
    assert [p["name"] for p in shop.get("/api/v1/catalogue/products/").json()["results"]] == ["亚麻T恤"]
    assert shop_client(beta).get("/api/v1/catalogue/products/").json()["count"] == 0  # never another shop's page
    with django_capture_on_commit_callbacks(execute=True):
        post(owner_client(alpha), "/api/v1/console/products/status/", {"ids": [body["id"]], "status": "off_sale"})
    assert shop.get("/api/v1/catalogue/products/").json()["count"] == 0
