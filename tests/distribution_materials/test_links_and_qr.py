"""Share links, mini-program scenes and QR codes."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from distribution.materials import MaterialError, parse_scene, qr_png, scene, share_url

CODES = st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True)


def test_product_and_home_links_carry_the_code_and_source() -> None:
    url = share_url("alpha.fenxiao.test", code="Ab12", product_id=42, source="poster")
    assert url == "https://alpha.fenxiao.test/products/42/?ref=Ab12&src=poster"
    assert share_url("alpha.fenxiao.test", code="Ab12") == "https://alpha.fenxiao.test/?ref=Ab12&src=link"
    # development hosts keep their scheme and port
    assert share_url("http://alpha.localhost:8000", code="x1", product_id=3) == (
        "http://alpha.localhost:8000/products/3/?ref=x1&src=link"
    )
    parts = urlsplit(share_url("Shop.Example.COM", code="Z9", source="qr"))
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "shop.example.com", "/")
    assert parse_qs(parts.query) == {"ref": ["Z9"], "src": ["qr"]}


@pytest.mark.parametrize("code", ["", "a" * 33, "ab-cd", "ab cd", "张三", "ab&src=x", "a/b", "ab%20"])
def test_bad_codes_are_refused(code: str) -> None:
    with pytest.raises(MaterialError):
        share_url("alpha.fenxiao.test", code=code)
    with pytest.raises(MaterialError):
        scene(code)


@pytest.mark.parametrize(
    "host", ["", "alpha.test/evil", "user@alpha.test", "alpha.test?x=1", "ftp://alpha.test", "al pha.test", "a.test:x"]
)
def test_bad_hosts_are_refused(host: str) -> None:
    with pytest.raises(MaterialError):
        share_url(host, code="abc")


@pytest.mark.parametrize("kwargs", [{"source": "Poster!"}, {"source": ""}, {"product_id": 0}, {"product_id": True}])
def test_bad_sources_and_products_are_refused(kwargs: dict) -> None:
    with pytest.raises(MaterialError):
        share_url("alpha.fenxiao.test", code="abc", **kwargs)


def test_a_32_character_code_is_the_whole_scene() -> None:
    code = "A" * 32
    assert scene(code) == code
    assert share_url("alpha.fenxiao.test", code=code).endswith(f"ref={code}&src=link")
    with pytest.raises(MaterialError):
        scene(code, 1)  # no room left for the product: refused, never cut
    assert parse_scene(scene("abc", 10**12)) == ("abc", 10**12)


@given(code=CODES, product_id=st.one_of(st.none(), st.integers(min_value=1, max_value=10**12)))
def test_scene_round_trip_fits_in_32_characters(code: str, product_id: int | None) -> None:
    value = scene(code, product_id)
    assert len(value) <= 32
    assert set(value) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
    ref = parse_scene(value)
    assert (ref.code, ref.product_id) == (code, product_id)


@pytest.mark.parametrize(
    "value", ["", "-", "abc-", "abc-0", "abc-01", "ab c", "abc-Z1", "abc-1-2", "x" * 33, "a-" + "z" * 14]
)
def test_parse_scene_refuses_anything_else(value: str) -> None:
    with pytest.raises(MaterialError):
        parse_scene(value)


def _modules(png: bytes, *, scale: int, border: int) -> list[list[bool]]:
    """Read the module matrix back out of a QR code PNG (dark = True)."""
    with Image.open(io.BytesIO(png)) as image:
        grey = image.convert("L")
    size = grey.width // scale
    pixels = grey.tobytes()
    return [
        [
            pixels[(y * scale + scale // 2) * grey.width + x * scale + scale // 2] < 128
            for x in range(border, size - border)
        ]
        for y in range(border, size - border)
    ]


def test_qr_png_holds_the_url() -> None:
    url = "https://alpha.fenxiao.test/products/42/?ref=Ab12&src=qr"
    png = qr_png(url, scale=5, border=4)
    assert png.startswith(b"\x89PNG")
    expected = segno.make_qr(url, error="m", boost_error=False)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == expected.symbol_size(scale=5, border=4)
    modules = _modules(png, scale=5, border=4)
    assert modules == [[bool(v) for v in row] for row in expected.matrix]
    other = segno.make_qr(url.replace("Ab12", "Ab13"), error="m", boost_error=False)
    assert modules != [[bool(v) for v in row] for row in other.matrix]
    # segno reads its matrix back the same way: the version and error level say it is a QR for this length
    assert len(modules) == 17 + 4 * int(expected.version)


def test_qr_png_refuses_silly_sizes() -> None:
    with pytest.raises(MaterialError):
        qr_png("https://x.test/", scale=0)
    with pytest.raises(MaterialError):
        qr_png("")
