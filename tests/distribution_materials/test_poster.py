"""Posters: size, Chinese text, wrapping, and untrusted images."""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageFont

from distribution import materials
from distribution.materials import (
    POSTER_SIZE,
    FontNotFound,
    find_cjk_font,
    load_image,
    poster_font,
    poster_png,
    wrap_text,
)

HEADER = 100  # the layout: shop name above a square product picture
PICTURE = (0, HEADER, POSTER_SIZE[0], HEADER + POSTER_SIZE[0])
NAME_BOX = (40, HEADER + POSTER_SIZE[0] + 20, POSTER_SIZE[0] - 40, HEADER + POSTER_SIZE[0] + 130)
NOT_A_CHARACTER = "\U0010fffd"  # private use, in no font: drawn as the .notdef glyph ("tofu")


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def render(**overrides: Any) -> Image.Image:
    values: dict[str, Any] = {
        "shop_name": "Alpha 分销商城",
        "product_name": "有机绿茶",
        "price_fen": 1230,
        "list_price_fen": 1990,
        "currency": "CNY",
        "product_image": png(Image.new("RGB", (800, 600), (30, 120, 200)), "JPEG"),
        "qr_url": "https://alpha.fenxiao.test/products/7/?ref=Ab12&src=poster",
        "distributor_name": "张三",
        "avatar": None,
        "labels": {"role": "推广员", "shared_by": "%(role)s %(name)s 为你推荐", "cta": "长按识别二维码购买"},
    }
    values.update(overrides)
    data = poster_png(**values)
    assert data.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def differs(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return ImageChops.difference(a.crop(box), b.crop(box)).getbbox() is not None


def test_poster_is_phone_sized() -> None:
    assert render().size == POSTER_SIZE == (750, 1334)


def test_the_font_draws_chinese_glyphs_not_tofu() -> None:
    font = poster_font(40)
    tofu = font.getmask(NOT_A_CHARACTER)
    zhong, guo = font.getmask("中"), font.getmask("国")
    assert zhong.getbbox() is not None  # ink
    assert bytes(zhong) != bytes(tofu) and bytes(guo) != bytes(tofu)
    assert bytes(zhong) != bytes(guo)


def test_the_tofu_check_catches_a_font_without_chinese() -> None:
    """The same comparison fails with a Latin-only font: the check above can fail."""
    path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not os.path.exists(path):
        pytest.skip("DejaVu Sans is not installed here")
    latin = ImageFont.truetype(path, 40)
    assert bytes(latin.getmask("中")) == bytes(latin.getmask(NOT_A_CHARACTER))


def test_chinese_names_are_drawn() -> None:
    chinese = render(product_name="有机绿茶", distributor_name="张三")
    tofu = render(product_name=NOT_A_CHARACTER * 4, distributor_name=NOT_A_CHARACTER * 2)
    assert differs(chinese, tofu, NAME_BOX)
    assert differs(chinese, tofu, (128, 1080, 500, 1200))  # beside the avatar


def test_long_names_wrap_to_two_lines_with_an_ellipsis() -> None:
    font = poster_font(36)
    name = "有机高山绿茶明前特级二百五十克礼盒装送礼佳品产地直发" * 3
    lines = wrap_text(name, font, 670, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(font.getlength(line) <= 670 for line in lines)
    assert "".join(lines).rstrip("…") == name[: len("".join(lines)) - 1]
    assert wrap_text("有机绿茶", font, 670, 2) == ["有机绿茶"]
    assert wrap_text("  ", font, 670, 2) == []
    # Latin words stay whole; a word longer than the line is broken
    english = wrap_text("Organic mountain green tea premium spring harvest gift box", font, 400, 3)
    assert all(word.isalpha() for line in english for word in line.rstrip("…").split())
    assert set(" ".join(english).rstrip("…").split()) <= set(
        "Organic mountain green tea premium spring harvest gift box".split()
    )
    broken = wrap_text("x" * 200, font, 300, 2)
    assert len(broken) == 2 and broken[1].endswith("…") and all(font.getlength(line) <= 300 for line in broken)
    # control characters and line breaks never reach the picture
    assert wrap_text("绿茶\n\t礼盒\x00", font, 670, 2) == ["绿茶 礼盒"]
    # a long name changes nothing below the name box
    assert not differs(render(product_name=name), render(product_name=name + "更长"), (0, 960, 750, 1334))


def huge_png_header(width: int, height: int) -> bytes:
    """A PNG that claims to be width × height (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = png(Image.effect_noise((600, 600), 80).convert("RGB"), "JPEG")
    return data[: len(data) // 3]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        b"",
        b"not an image at all",
        truncated_jpeg(),
        huge_png_header(6000, 5000),  # 30 megapixels claimed, data missing
        png(Image.new("1", (6000, 5000))),  # a real 30-megapixel image of a few kilobytes
        huge_png_header(50_000, 50_000),  # over Pillow's own bomb limit
        b"%PDF-1.4 pretending",
        png(Image.new("RGB", (10, 10)), "BMP"),  # a format the catalogue never accepts
    ],
    ids=["none", "empty", "garbage", "truncated", "over-25mp-header", "over-25mp", "bomb", "pdf", "bmp"],
)
def test_unusable_product_images_fall_back_to_the_placeholder(bad: bytes | None) -> None:
    assert load_image(bad) is None
    placeholder = render(product_image=None)
    assert not differs(render(product_image=bad), placeholder, PICTURE)
    assert differs(render(), placeholder, PICTURE)  # and a good image does show


def test_the_pixel_limit_is_the_callers() -> None:
    small = png(Image.new("RGB", (100, 100), (1, 2, 3)))
    assert load_image(small) is not None
    assert load_image(small, max_pixels=9_999) is None


def test_images_of_every_mode_are_used() -> None:
    for mode, fmt in [("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("1", "PNG")]:
        image = load_image(png(Image.new(mode, (40, 30)), fmt))
        assert image is not None and image.mode == "RGB" and image.size == (40, 30), mode
    # transparency is laid on white
    transparent = load_image(png(Image.new("RGBA", (8, 8), (255, 0, 0, 0))))
    assert transparent is not None and transparent.getpixel((4, 4)) == (255, 255, 255)
    # a GIF: its first frame
    assert load_image(png(Image.new("P", (20, 20)), "GIF")) is not None


def test_the_product_image_is_cover_cropped() -> None:
    wide = Image.new("RGB", (3000, 1000), (255, 0, 0))
    wide.paste((0, 160, 0), (1000, 0, 2000, 1000))  # green middle third
    poster = render(product_image=png(wide))
    for point in [(10, HEADER + 10), (375, HEADER + 375), (740, HEADER + 740)]:
        r, g, b = poster.getpixel(point)  # type: ignore[misc]
        assert g > 120 and r < 40, point  # only the middle of the wide picture fills the square


def test_avatar_is_round_and_an_initial_stands_in_for_none() -> None:
    red = png(Image.new("RGB", (300, 200), (220, 20, 20)))
    with_avatar = render(avatar=red)
    assert with_avatar.getpixel((84, 1144)) == (220, 20, 20)  # the centre of the circle
    corner = with_avatar.getpixel((41, 1101))
    assert corner == (255, 255, 255)  # cropped round: the square's corner stays white
    initial = render(avatar=None)
    centre_box = (50, 1110, 118, 1178)
    assert initial.crop(centre_box).getcolors(10_000) is not None
    colours = {c for _n, c in initial.crop(centre_box).getcolors(10_000)}  # type: ignore[union-attr]
    assert len(colours) > 2  # a coloured disc with a letter drawn on it
    assert differs(initial, render(avatar=None, distributor_name="李四"), centre_box)
    assert not differs(initial, render(avatar=b"broken"), centre_box)  # a broken avatar: the initial too


def test_labels_come_through() -> None:
    assert differs(render(), render(labels={"cta": "扫码立即抢购"}), (40, 1190, 480, 1334))
    # a template with a stray placeholder does not crash the poster
    render(labels={"shared_by": "%(nobody)s %", "cta": ""})
    render(labels=None)


def test_list_price_only_when_higher() -> None:
    price_box = (200, 980, 500, 1060)
    assert differs(render(list_price_fen=1990), render(list_price_fen=None), price_box)
    assert not differs(render(list_price_fen=1230), render(list_price_fen=None), price_box)


def test_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Any) -> None:
    monkeypatch.setattr(materials, "SHIPPED_FONT", tmp_path / "gone.ttc")
    monkeypatch.setattr(materials, "SYSTEM_CJK_FONTS", (str(tmp_path / "none.ttc"),))
    monkeypatch.delenv("POSTER_FONT_PATH", raising=False)
    settings.POSTER_FONT_PATH = ""
    with pytest.raises(FontNotFound, match="fonts-wqy-microhei"):
        find_cjk_font()
    with pytest.raises(FontNotFound):
        poster_png(
            shop_name="s",
            product_name="p",
            price_fen=1,
            list_price_fen=None,
            currency="CNY",
            product_image=None,
            qr_url="https://x.test/",
            distributor_name="d",
            avatar=None,
            labels={},
        )
    settings.POSTER_FONT_PATH = str(tmp_path / "missing.ttf")
    with pytest.raises(FontNotFound, match="missing.ttf"):
        find_cjk_font()


def test_configured_font_wins(settings: Any) -> None:
    assert find_cjk_font().endswith("wqy-microhei.ttc")
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if os.path.exists(dejavu):
        settings.POSTER_FONT_PATH = dejavu
        assert find_cjk_font() == dejavu
