"""Upload shapes (issue 12, "Deliver as well"): SVG, HTML, polyglots, decompression bombs in PNG,
GIF and WebP. Every upload path (product images, decorated-page images, theme image settings,
theme assets) goes through one check, platform_core/images.py: each shape is a clear 400 with
a field-level message, and nothing is stored (no file, no row)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image, PngImagePlugin

from platform_core import images
from tests.conftest import english, in_shop, owner_client
from tests.themes.conftest import custom_shop  # noqa: F401

pytestmark = pytest.mark.django_db


# --- the shapes --------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bomb(width: int, height: int) -> bytes:
    """A real bomb: 1-bit greyscale zeros, compressed row by row (a few KB for hundreds of MB)."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _small(fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, fmt, **params)
    return buffer.getvalue()


def _gif_with_canvas(width: int, height: int) -> bytes:
    """A tiny GIF whose logical screen claims ``width`` × ``height``."""
    data = bytearray(_small("GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _gif_frame_bomb() -> bytes:
    """Twelve frames on a 3000×3000 canvas, each differing by a pixel (a small file; decoding
    every frame means 108 megapixels)."""
    frames = []
    for n in range(12):
        frame = Image.new("P", (3000, 3000), 0)
        frame.putpalette([0, 0, 0, 255, 255, 255])
        frame.putpixel((n, 0), 1)
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=40)
    return buffer.getvalue()


def _webp_bomb() -> bytes:
    """6000×5000 (30 megapixels) of one colour, lossless: a few dozen bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 5000), (200, 10, 10)).save(buffer, "WEBP", lossless=True, method=0, quality=0)
    return buffer.getvalue()


def _png_with_text(text: bytes) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text.decode())
    return _small("PNG", pnginfo=info)


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" '
    b'onload="alert(document.cookie)"><script>alert(1)</script></svg>'
)
HTML = b"<!DOCTYPE html><html><body><script>fetch('/console/staff/')</script></body></html>"


@cache
def shapes() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, what the field error says)."""
    not_image = "not a JPEG, PNG, WebP or GIF"
    pixels = "too many pixels"
    markup = "markup or script"
    extra = "more than an image"
    return {
        "svg-with-script": (SVG, not_image),
        "html-named-png": (HTML, not_image),
        "gif-header-then-html": (b"GIF89a/*" + HTML + b"*/", not_image),
        "png-text-chunk-script": (_png_with_text(b"<script>alert(1)</script>"), markup),
        "gif-comment-html": (_small("GIF", comment=b"<html><body onload=alert(1)>"), markup),
        "jpeg-comment-svg": (_small("JPEG", comment=b"<svg onload=alert(1)>"), markup),
        "png-then-html": (_small("PNG") + HTML, markup),
        "png-then-zip": (_small("PNG") + b"PK\x03\x04" + b"\x00" * 26 + b"payload", extra),
        "gif-then-zip": (_small("GIF") + b"PK\x03\x04" + b"\x00" * 26 + b"payload", extra),
        "webp-then-data": (_small("WEBP") + b"PK\x03\x04trailing", extra),
        "png-bomb-400mp": (_png_bomb(20_000, 20_000), pixels),
        "png-bomb-26mp": (_png_bomb(5_100, 5_100), pixels),
        "gif-canvas-bomb": (_gif_with_canvas(60_000, 60_000), pixels),
        "gif-frame-bomb": (_gif_frame_bomb(), "animation is too large"),
        "webp-bomb-30mp": (_webp_bomb(), pixels),
        "truncated-png": (_small("PNG")[:40], not_image),
        "empty": (b"", "empty"),
    }


def test_each_shape_is_what_it_claims() -> None:
    """The bombs are small files declaring huge images (so the test means something)."""
    made = shapes()
    for name in ("png-bomb-400mp", "png-bomb-26mp", "gif-canvas-bomb", "webp-bomb-30mp", "gif-frame-bomb"):
        assert len(made[name][0]) < 200_000, name
    assert len(made["webp-bomb-30mp"][0]) < 1_000
    Image.MAX_IMAGE_PIXELS, saved = None, Image.MAX_IMAGE_PIXELS
    try:
        for name, pixels in (("png-bomb-400mp", 400_000_000), ("webp-bomb-30mp", 30_000_000)):
            with Image.open(io.BytesIO(made[name][0])) as probe:
                assert probe.size[0] * probe.size[1] == pixels
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    with Image.open(io.BytesIO(made["gif-frame-bomb"][0])) as probe:
        assert getattr(probe, "n_frames", 1) == 12 and probe.size == (3000, 3000)


@pytest.mark.parametrize("name", sorted(shapes()))
def test_the_one_check_refuses_each_shape_with_its_reason(name: str) -> None:
    data, reason = shapes()[name]
    with translation.override("en"), pytest.raises(images.ImageRejected) as refused:
        images.check_image(data)
    assert reason in refused.value.message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_plain_images_pass(fmt: str) -> None:
    checked = images.check_image(_small(fmt))
    assert (checked.width, checked.height, checked.frames) == (8, 8, 1)
    assert checked.ext == images.IMAGE_FORMATS[fmt]


def test_a_huge_upload_is_never_read_whole() -> None:
    class Endless:
        size = None
        asked: list[int] = []

        def read(self, n: int = -1) -> bytes:
            self.asked.append(n)
            return b"\x00" * (n if n > 0 else 10**9)

    upload = Endless()
    assert images.read_bounded(upload, 1000) is None and upload.asked == [1001]


# --- every upload path -------------------------------------------------------------------------
def _media_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _each_shape_refused(post: Callable[[str, bytes], Any], field: str, rows: Callable[[], int]) -> None:
    before_files, before_rows = _media_files(), rows()
    for name, (data, reason) in shapes().items():
        response = post(name, data)
        assert response.status_code == 400, (name, response.status_code)
        body = response.content.decode()
        if response.get("Content-Type", "").startswith("application/json"):
            assert reason in " ".join(response.json()[field]), (name, body[:300])
        else:
            assert reason in body, (name, body[:300])
    assert _media_files() == before_files  # nothing stored
    assert rows() == before_rows


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{name}.png", data, content_type="image/png")


def test_product_images(beta: Any) -> None:
    from shop.catalogue import services
    from shop.catalogue.models import ProductImage

    with in_shop(beta):
        product = services.product_save(
            beta, {"name": "Upload target", "skus": [{"spec": {}, "price": 100, "stock": 1}]}
        )
    client = english(owner_client(beta))
    url = f"/api/v1/console/products/{product.pk}/images/"

    def rows() -> int:
        with in_shop(beta):
            return ProductImage.objects.count()

    _each_shape_refused(lambda name, data: client.post(url, {"image": _upload(name, data)}), "image", rows)
    assert client.post(url, {"image": _upload("ok", _small("PNG"))}).status_code == 201  # the path works


def test_decorated_page_images(beta: Any) -> None:
    client = english(owner_client(beta))
    url = "/api/v1/console/decoration/images/"
    _each_shape_refused(lambda name, data: client.post(url, {"image": _upload(name, data)}), "image", lambda: 0)
    assert client.post(url, {"image": _upload("ok", _small("GIF"))}).status_code == 201


def test_theme_image_settings(alpha: Any) -> None:
    from shop.storefront import services

    with in_shop(alpha):
        services.theme_choose(alpha, "allround")
    client = english(owner_client(alpha))

    def post(name: str, data: bytes) -> Any:
        return client.post("/console/theme/", {"action": "settings", "f_logo": _upload(name, data)})

    _each_shape_refused(post, "logo", lambda: 0)
    assert post("ok", _small("WEBP")).status_code == 302


def test_theme_assets(custom_shop: Any) -> None:  # noqa: F811
    from shop.storefront.models import ThemeAsset

    client = english(owner_client(custom_shop))

    def post(name: str, data: bytes) -> Any:
        upload = SimpleUploadedFile("banner.png", data, content_type="image/png")
        return client.post("/console/theme/code/", {"action": "asset_upload", "file": upload})

    def rows() -> int:
        with in_shop(custom_shop):
            return ThemeAsset.objects.count()

    _each_shape_refused(post, "file", rows)
    assert post("ok", _small("JPEG")).status_code == 302
    assert rows() == 1


def test_every_upload_path_uses_the_one_check() -> None:
    """No other module opens uploaded images itself (issue 14 item 5: one image check)."""
    root = Path(__file__).resolve().parents[2]
    openers = sorted(
        str(path.relative_to(root))
        for folder in ("shop", "themes", "tenants", "billing")
        for path in (root / folder).rglob("*.py")
        if "Image.open(" in path.read_text(encoding="utf-8")
    )
    assert openers == []
