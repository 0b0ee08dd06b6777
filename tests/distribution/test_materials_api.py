"""Promotion materials through HTTP: the member API (shop link and QR, a product's link,
QR PNG and poster cached in storage and replaced when the product changes), the product
page's share button and commission preview as the shop chooses, and the distributor
centre's share section."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import english, in_shop, shop_client
from tests.distribution.conftest import configure, distributor, phone
from tests.distribution.test_centre import session
from tests.orders.conftest import member, member_client, product

pytestmark = pytest.mark.django_db
API = "/api/v1/distribution/materials/"
PNG = b"\x89PNG\r\n\x1a\n"


def test_shop_and_product_materials(alpha: Any) -> None:
    from django.core.files.storage import default_storage

    configure(alpha)
    sharer = distributor(alpha)
    sku = product(alpha, name="龙井 250g", price=6800)
    client = member_client(alpha, sharer.member)

    shop = client.get(API)
    assert shop.status_code == 200
    assert shop.json()["link"].endswith(f"/?ref={sharer.code}&src=link") and shop.json()["scene"] == sharer.code
    qr = client.get(shop.json()["qr"])
    assert qr.status_code == 200 and qr["Content-Type"] == "image/png" and qr.content.startswith(PNG)

    url = f"{API}products/{sku.product_id}/"
    first = client.get(url)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["link"].endswith(f"/products/{sku.product_id}/?ref={sharer.code}&src=link")
    assert client.get(body["qr"]).content.startswith(PNG)
    poster = body["poster"]
    assert poster.startswith("/media/")
    stored = poster.split("/", 3)[3]  # /media/<shop folder>/<name>
    with in_shop(alpha):
        assert default_storage.exists(stored)
    assert client.get(url).json()["poster"] == poster  # cached
    redirect = client.get(f"{API}products/{sku.product_id}/poster.png")
    assert redirect.status_code == 302 and redirect["Location"] == poster

    from shop.catalogue.models import Product

    with in_shop(alpha):
        Product.objects.filter(pk=sku.product_id).update(name="龙井 500g", updated_at=timezone.now())
    changed = client.get(url).json()["poster"]
    assert changed != poster
    with in_shop(alpha):
        assert not default_storage.exists(stored) and default_storage.exists(changed.split("/", 3)[3])


def test_only_active_distributors_get_materials(alpha: Any, beta: Any) -> None:
    configure(alpha)
    configure(beta)
    sku = product(alpha)
    plain = member_client(alpha, member(alpha, phone()))
    assert plain.get(API).status_code == 404
    assert plain.get(f"{API}products/{sku.product_id}/").status_code == 404
    sharer = distributor(alpha)
    from distribution import services

    with in_shop(alpha):
        services.distributor_action(sharer, "freeze")
    frozen = member_client(alpha, sharer.member)
    assert frozen.get(API).status_code == 404
    assert shop_client(alpha).get(API).status_code in (401, 403)
    # another shop's product id is nobody's here
    other = product(beta)
    active = member_client(alpha, distributor(alpha).member)
    if other.product_id != sku.product_id:
        assert active.get(f"{API}products/{other.product_id}/").status_code == 404


@pytest.mark.parametrize(
    ("audience", "guest_sees", "distributor_sees"),
    [("everyone", True, True), ("distributors", False, True), ("nobody", False, False)],
)
def test_product_page_preview_and_share(alpha: Any, audience: str, guest_sees: bool, distributor_sees: bool) -> None:
    configure(alpha, rate_level1_bp=1000, preview_audience=audience, commission_word="Reward")
    sku = product(alpha, price=6800)
    page = f"/products/{sku.product_id}/"
    guest = english(shop_client(alpha)).get(page).content.decode()
    assert ("Share and earn Reward" in guest) is guest_sees
    assert "¥6.80" in guest if guest_sees else "¥6.80" not in guest
    assert "poster.png" not in guest
    sharer = distributor(alpha)
    mine = session(alpha, sharer.member).get(page).content.decode()
    assert ("Share and earn Reward" in mine) is distributor_sees
    assert f"{API}products/{sku.product_id}/poster.png" in mine and f"ref={sharer.code}" in mine


@pytest.mark.parametrize("theme", ["allround", "minimal", "fresh"])
def test_share_snippet_in_every_builtin_theme(alpha: Any, theme: str) -> None:
    from shop.storefront import services

    configure(alpha, preview_audience="everyone")
    sku = product(alpha, price=1000)
    with in_shop(alpha):
        services.theme_choose(alpha, theme)
        services.theme_publish(alpha, actor="test")
    response = english(shop_client(alpha)).get(f"/products/{sku.product_id}/")
    html = response.content.decode()
    assert response.status_code == 200 and f"{theme}-product" in html
    assert "Share and earn" in html and "¥1.00" in html
