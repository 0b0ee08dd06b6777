"""Posters cached in the shop's storage: hits, invalidation, clean-up, shops apart, S3."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone, translation
from moto.server import ThreadedMotoServer

from distribution.materials import (
    PosterSpec,
    delete_posters,
    poster_for,
    poster_name,
    product_facts,
    product_poster,
    read_file,
)
from platform_core.storage import ShopS3Storage
from tests.conftest import in_shop

pytestmark = pytest.mark.django_db

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
BUCKET = "fenxiao-posters"


class Renders:
    """A render callable that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return b"\x89PNG fake poster %d" % self.calls


def picture(**changes: Any) -> dict[str, Any]:
    return {
        "version": "2026-11-25T10:00:00+00:00",
        "price": 1230,
        "list_price": 1990,
        "image": "products/7/a1b2.jpg",
        "distributor": "张三",
        "avatar": "",
        "labels": {"cta": "长按识别二维码"},
    } | changes


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def posters_on_disk(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.png")}


def test_a_hit_returns_the_same_url_without_rendering(alpha: Any, media: Path) -> None:
    render = Renders()
    with in_shop(alpha):
        first = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render)
        second = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render)
    assert first == second and render.calls == 1
    assert first.startswith("/media/shop_alpha/posters/p7/Ab12/") and first.endswith(".png")
    assert posters_on_disk(media) == {first.removeprefix("/media/")}


@pytest.mark.parametrize(
    "change",
    [
        {"version": "2026-11-25T11:00:00+00:00"},
        {"price": 990},
        {"list_price": None},
        {"image": "products/7/c3d4.jpg"},
        {"distributor": "李四"},
        {"avatar": "avatars/9.png"},
        {"labels": {"cta": "扫码购买"}},
    ],
)
def test_a_change_gives_a_new_poster_and_deletes_the_old(alpha: Any, media: Path, change: dict[str, Any]) -> None:
    render = Renders()
    with in_shop(alpha):
        old = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render)
        new = poster_for(product_id=7, distributor_code="Ab12", picture=picture(**change), render=render)
    assert new != old and render.calls == 2
    assert posters_on_disk(media) == {new.removeprefix("/media/")}


def test_other_products_distributors_and_languages_are_left_alone(alpha: Any, media: Path) -> None:
    render = Renders()
    with in_shop(alpha):
        kept = {
            poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render, variant="zh-hans"),
            poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render, variant="en"),
            poster_for(product_id=7, distributor_code="Cd34", picture=picture(), render=render),
            poster_for(product_id=8, distributor_code="Ab12", picture=picture(), render=render),
            poster_for(product_id=None, distributor_code="Ab12", picture=picture(), render=render),
        }
        assert render.calls == 5 and len(kept) == 5
        assert posters_on_disk(media) == {url.removeprefix("/media/") for url in kept}
        # a new version of the English poster replaces the English one only
        en = poster_for(product_id=7, distributor_code="Ab12", picture=picture(price=1), render=render, variant="en")
    left = {
        url.removeprefix("/media/")
        for url in kept
        if "/p7/Ab12/" not in url
        or url.endswith(poster_name(product_id=7, distributor_code="Ab12", picture=picture(), variant="zh-hans"))
    }
    assert posters_on_disk(media) == left | {en.removeprefix("/media/")}


def test_another_variants_old_posters_go_after_a_while(alpha: Any, media: Path) -> None:
    render = Renders()
    with in_shop(alpha):
        old_en = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render, variant="en")
        path = media / old_en.removeprefix("/media/")
        month_ago = time.time() - 31 * 86400
        os.utime(path, (month_ago, month_ago))
        zh = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render, variant="zh-hans")
    assert posters_on_disk(media) == {zh.removeprefix("/media/")}


def test_two_shops_posters_live_apart(alpha: Any, beta: Any, media: Path) -> None:
    render = Renders()
    with in_shop(alpha):
        a = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render)
    with in_shop(beta):
        b = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render)
        assert render.calls == 2  # beta's poster is not alpha's, even with the same inputs
        b_name = b.removeprefix("/media/shop_beta/")
        assert default_storage.exists(b_name)
    assert a.startswith("/media/shop_alpha/posters/") and b.startswith("/media/shop_beta/posters/")
    assert a.removeprefix("/media/shop_alpha/") == b_name  # same name, different folder
    with in_shop(alpha):
        assert delete_posters(product_id=7) == 1
    assert posters_on_disk(media) == {b.removeprefix("/media/")}


def test_a_concurrent_render_leaves_one_file(alpha: Any, media: Path) -> None:
    name = poster_name(product_id=7, distributor_code="Ab12", picture=picture())

    def render_while_another_request_stores_it() -> bytes:
        default_storage.save(name, ContentFile(b"same poster"))
        return b"same poster"

    with in_shop(alpha):
        url = poster_for(
            product_id=7, distributor_code="Ab12", picture=picture(), render=render_while_another_request_stores_it
        )
    assert posters_on_disk(media) == {f"shop_alpha/{name}"}
    assert url == f"/media/shop_alpha/{name}"


def test_bad_codes_never_reach_the_storage(alpha: Any, media: Path) -> None:
    from distribution.materials import MaterialError

    with in_shop(alpha), pytest.raises(MaterialError):
        poster_for(product_id=7, distributor_code="../../etc", picture=picture(), render=Renders())
    assert posters_on_disk(media) == set()


def test_product_poster_follows_the_catalogue(alpha: Any, media: Path) -> None:
    """The real thing: a catalogue product with a SKU and a stored image. Editing the
    product, its price or its images gives a new poster and removes the old one; a hit
    reads no image."""
    from PIL import Image

    from shop.catalogue.models import Product, ProductImage, Sku
    from tests.distribution_materials.test_poster import png

    def add_image(product: Product, colour: tuple[int, int, int], position: int) -> ProductImage:
        image = ProductImage(product=product, position=position)
        image.image.save("tea.jpg", ContentFile(png(Image.new("RGB", (900, 900), colour), "JPEG")), save=True)
        return image

    with in_shop(alpha):
        product = Product.objects.create(name="有机绿茶 250克", min_price=1230, max_price=1230)
        sku = Sku.objects.create(product=product, price=1230, list_price=1990)
        add_image(product, (10, 140, 60), 1)
        reads: list[str] = []

        def poster() -> str:
            product.refresh_from_db()
            facts = product_facts(product)
            spec = PosterSpec(
                shop_name="Alpha 分销商城",
                qr_url=f"https://alpha.fenxiao.test/products/{product.pk}/?ref=Ab12&src=poster",
                currency="CNY",
                distributor_code="Ab12",
                distributor_name="张三",
                labels={"cta": "长按识别二维码购买"},
                **facts,
            )

            def load() -> bytes | None:
                reads.append(facts["product_image_key"])
                return read_file(facts["product_image_key"])

            return product_poster(spec, product_image=load)

        def drawn(url: str) -> Image.Image:
            with default_storage.open(url.removeprefix("/media/shop_alpha/")) as fh:
                image = Image.open(fh)
                image.load()
            return image.convert("RGB")

        first = poster()
        assert poster() == first and len(reads) == 1
        assert drawn(first).size == (750, 1334)
        assert drawn(first).getpixel((375, 475)) == pytest.approx((10, 140, 60), abs=12)  # the product image

        seen = {first}
        changes = [
            lambda: Product.objects.filter(pk=product.pk).update(name="有机绿茶 500克", updated_at=timezone.now()),
            lambda: Sku.objects.filter(pk=sku.pk).update(price=990),
            lambda: add_image(product, (200, 30, 30), 0),  # a new first image (updated_at unchanged)
        ]
        for change in changes:
            before = poster()
            change()
            after = poster()
            assert after not in seen
            seen.add(after)
            assert not default_storage.exists(before.removeprefix("/media/shop_alpha/"))
            assert default_storage.exists(after.removeprefix("/media/shop_alpha/"))
        assert drawn(after).getpixel((375, 475)) == pytest.approx((200, 30, 30), abs=12)

        # each language has its own poster, and they don't evict each other
        with translation.override("en"):
            english = poster()
        assert english != after
        assert default_storage.exists(after.removeprefix("/media/shop_alpha/"))
        assert read_file("products/none.jpg") is None


# --- S3 (moto's server on loopback) --------------------------------------------------------
@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def s3_keys(endpoint: str) -> set[str]:
    listing = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).list_objects_v2(Bucket=BUCKET)
    return {obj["Key"] for obj in listing.get("Contents", [])}


def test_posters_on_s3(s3_endpoint: str, alpha: Any, beta: Any) -> None:
    store = ShopS3Storage(
        bucket_name=BUCKET,
        endpoint_url=s3_endpoint,
        access_key=CREDENTIALS["aws_access_key_id"],
        secret_key=CREDENTIALS["aws_secret_access_key"],
        region_name=CREDENTIALS["region_name"],
        location="media",
        querystring_auth=False,
    )
    render = Renders()
    with in_shop(alpha):
        first = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render, storage=store)
        assert (
            poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render, storage=store) == first
        )
        assert render.calls == 1
        keep_en = poster_for(
            product_id=7, distributor_code="Ab12", picture=picture(), render=render, storage=store, variant="en"
        )
    with in_shop(beta):
        in_beta = poster_for(product_id=7, distributor_code="Ab12", picture=picture(), render=render, storage=store)
    assert "/media/shop_alpha/posters/p7/Ab12/" in first and "/media/shop_beta/posters/p7/Ab12/" in in_beta
    assert render.calls == 3
    name = first.split(f"/{BUCKET}/", 1)[-1] if f"/{BUCKET}/" in first else first.split("/media/", 1)[1]
    with in_shop(alpha):
        changed = poster_for(
            product_id=7, distributor_code="Ab12", picture=picture(price=990), render=render, storage=store
        )
    keys = s3_keys(s3_endpoint)
    old_key = "media/" + name.split("media/", 1)[-1]
    assert old_key not in keys  # the superseded poster is gone from the bucket
    for url in (changed, keep_en, in_beta):
        assert "media/" + url.split("/media/", 1)[1] in keys
    assert {k for k in keys if k.startswith("media/shop_alpha/")} == {
        "media/" + changed.split("/media/", 1)[1],
        "media/" + keep_en.split("/media/", 1)[1],
    }
