"""Promotion materials: share links, mini-program scenes, QR codes and posters.

Self-contained on purpose: nothing here imports the distribution models. The engine, the
distributor centre and the storefront pass plain values (a shop host, a distributor's short
code, a product's name, price in fen, image bytes …) and get back URLs and PNG bytes.

- :func:`share_url` builds the link a distributor shares (``/products/<id>/?ref=<code>&src=<source>``
  or the shop home), :func:`scene` / :func:`parse_scene` the ≤ 32-character ``scene`` of a
  mini-program QR code.
- :func:`qr_png` renders a QR code (segno, pure Python).
- :func:`poster_png` renders a phone-sized poster with Pillow; Chinese text needs a CJK font,
  found by :func:`find_cjk_font` (the project ships WenQuanYi Micro Hei in ``distribution/fonts``).
- :func:`poster_for` caches a rendered poster in the shop's own storage under ``posters/``,
  keyed by a hash of everything that changes the picture, and deletes the superseded ones.
  :func:`product_poster` puts the two together for the common case.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import segno
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont, ImageOps

from platform_core.money import format_money

logger = logging.getLogger(__name__)

# Bump when the layout or drawing changes: every cached poster is then rendered afresh.
RENDERER_VERSION = "1"

POSTER_SIZE = (750, 1334)
POSTER_FOLDER = "posters"
# Superseded posters of another variant (other language, other wording) are removed once
# they are this old; those of the same variant are removed at once.
STALE_VARIANT_AGE = timedelta(days=30)

MAX_CODE_LENGTH = 32
MAX_SCENE_LENGTH = 32  # what a WeChat mini-program code's `scene` holds
CODE_RE = re.compile(r"[A-Za-z0-9]{1,32}")
SOURCE_RE = re.compile(r"[a-z][a-z0-9_]{0,15}")
SCENE_SEPARATOR = "-"  # never in a code, allowed in a scene

# Untrusted images: the catalogue accepts at most 25 megapixels and 5 MB on upload; posters
# take any image (avatars too) up to 25 megapixels and 10 MB, and treat more as no image.
MAX_SOURCE_PIXELS = 25_000_000
MAX_SOURCE_BYTES = 10 * 1024 * 1024
SOURCE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

FONT_DIR = Path(__file__).resolve().parent / "fonts"
SHIPPED_FONT = FONT_DIR / "wqy-microhei.ttc"
SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu fonts-wqy-microhei
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora/Arch
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch noto-fonts-cjk
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
)

WHITE = (255, 255, 255)
INK = (34, 34, 34)
MUTED = (136, 136, 136)
PRICE_RED = (228, 57, 60)
RULE = (235, 235, 235)
PLACEHOLDER_BG = (242, 243, 245)
PLACEHOLDER_FG = (200, 203, 208)
AVATAR_COLOURS = ((230, 126, 34), (52, 152, 219), (46, 160, 67), (155, 89, 182), (231, 76, 60), (22, 160, 133))


class MaterialError(ValueError):
    """A value the materials cannot be made from (a bad code, host or source)."""


class FontNotFound(ImproperlyConfigured):
    """No CJK font: posters would show Chinese as empty boxes, so none are drawn."""


# --- share links and scenes --------------------------------------------------------------
def clean_code(code: str) -> str:
    code = str(code or "")
    if not CODE_RE.fullmatch(code):
        raise MaterialError(_("A share code is 1 to 32 letters or digits."))
    return code


def _clean_host(host: str) -> tuple[str, str]:
    """``"alpha.example.com"``, ``"alpha.example.com:8000"`` or ``"https://alpha.example.com"``
    → (scheme, netloc). Anything with a path, query, credentials or spaces is refused."""
    host = str(host or "").strip()
    scheme = ""
    if "://" in host:
        scheme, _sep, host = host.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise MaterialError(_("A shop address starts with http:// or https://."))
        host = host.rstrip("/")
    parts = urlsplit(f"//{host}")
    if (
        not host
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in host
        or any(c.isspace() for c in host)
        or not parts.hostname
    ):
        raise MaterialError(_("“%(host)s” is not a shop address.") % {"host": host})
    try:
        parts.port  # noqa: B018 — raises on a port that is not a number
    except ValueError as exc:
        raise MaterialError(_("“%(host)s” is not a shop address.") % {"host": host}) from exc
    return scheme, host.lower()


def share_url(
    host: str, *, code: str, product_id: int | None = None, source: str = "link", scheme: str = "https"
) -> str:
    """The absolute link a distributor shares: the product page, or the shop's home page
    when ``product_id`` is None, carrying the distributor's code and where it was shared
    (``link``, ``qr``, ``poster`` …). ``host`` may carry its own scheme (``http://…`` in
    development); otherwise ``scheme`` is used."""
    host_scheme, netloc = _clean_host(host)
    scheme = host_scheme or scheme
    if scheme not in ("http", "https"):
        raise MaterialError(_("A shop address starts with http:// or https://."))
    code = clean_code(code)
    if not SOURCE_RE.fullmatch(str(source or "")):
        raise MaterialError(_("Unknown share source."))
    path = "/"
    if product_id is not None:
        if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id <= 0:
            raise MaterialError(_("Unknown product."))
        path = f"/products/{product_id}/"
    return f"{scheme}://{netloc}{path}?{urlencode({'ref': code, 'src': source})}"


class SceneRef(NamedTuple):
    code: str
    product_id: int | None


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def scene(code: str, product_id: int | None = None) -> str:
    """The ``scene`` of a mini-program code (at most 32 characters): the code alone, or
    ``<code>-<product id in base 36>``. A code too long to leave room for the product is
    refused rather than cut."""
    code = clean_code(code)
    if product_id is None:
        return code
    if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id <= 0:
        raise MaterialError(_("Unknown product."))
    value = f"{code}{SCENE_SEPARATOR}{_base36(product_id)}"
    if len(value) > MAX_SCENE_LENGTH:
        raise MaterialError(_("This share code is too long to carry a product in a mini-program code."))
    return value


def parse_scene(value: str) -> SceneRef:
    """The inverse of :func:`scene`; raises :class:`MaterialError` on anything else."""
    value = str(value or "")
    if len(value) > MAX_SCENE_LENGTH:
        raise MaterialError(_("Not a share scene."))
    code, sep, product = value.partition(SCENE_SEPARATOR)
    if not CODE_RE.fullmatch(code):
        raise MaterialError(_("Not a share scene."))
    if not sep:
        return SceneRef(code, None)
    if not re.fullmatch(r"[0-9a-z]{1,13}", product) or product.startswith("0"):
        raise MaterialError(_("Not a share scene."))
    return SceneRef(code, int(product, 36))


# --- QR codes ----------------------------------------------------------------------------
def _qr(data: str) -> segno.QRCode:
    if not data:
        raise MaterialError(_("Nothing to put in the QR code."))
    # M: 15 % of the code may be smudged or covered and it still scans.
    return segno.make_qr(data, error="m", boost_error=False)


def qr_png(url: str, *, scale: int = 8, border: int = 4) -> bytes:
    """A black-on-white QR code as PNG; each module is ``scale`` pixels, with a quiet zone
    of ``border`` modules (4 is what the standard asks for)."""
    if not 1 <= scale <= 40 or not 0 <= border <= 10:
        raise MaterialError(_("Unsupported QR code size."))
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def _qr_image(url: str, box: int) -> Image.Image:
    """The QR code drawn in whole-pixel modules, as large as fits in ``box`` × ``box``,
    centred on white."""
    code = _qr(url)
    modules = code.symbol_size(scale=1, border=2)[0]
    scale = max(1, box // modules)
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=2)
    out.seek(0)
    with Image.open(out) as drawn:
        qr = drawn.convert("RGB")
    canvas = Image.new("RGB", (box, box), WHITE)
    canvas.paste(qr, ((box - qr.width) // 2, (box - qr.height) // 2))
    return canvas


# --- fonts -------------------------------------------------------------------------------
def find_cjk_font() -> str:
    """The path of a font that draws Chinese: ``settings.POSTER_FONT_PATH`` or the
    ``POSTER_FONT_PATH`` environment variable when set (it must exist), else the font shipped
    in ``distribution/fonts``, else the usual places of WenQuanYi Micro Hei and Noto Sans CJK."""
    configured = getattr(settings, "POSTER_FONT_PATH", "") or os.environ.get("POSTER_FONT_PATH", "")
    if configured:
        if not os.path.isfile(configured):
            raise FontNotFound(f"POSTER_FONT_PATH is set to {configured!r}, which is not a file.")
        return str(configured)
    for candidate in (str(SHIPPED_FONT), *SYSTEM_CJK_FONTS):
        if os.path.isfile(candidate):
            return candidate
    raise FontNotFound(
        "No CJK font for posters: Chinese text would render as empty boxes. Restore "
        f"{SHIPPED_FONT}, or install Debian's fonts-wqy-microhei "
        "(apt-get install fonts-wqy-microhei; scripts/ensure_browser.sh does it), "
        "or set POSTER_FONT_PATH to a .ttf/.ttc/.otf font with Chinese glyphs."
    )


@lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size, index=0)


def poster_font(size: int) -> ImageFont.FreeTypeFont:
    return _font(find_cjk_font(), size)


# --- text --------------------------------------------------------------------------------
ELLIPSIS = "…"
_TOKEN_RE = re.compile(r"\s+|[A-Za-z0-9][A-Za-z0-9'’.,:;!?%&+\-]*|.", re.S)


def _clean_text(text: str) -> str:
    """One line of printable text: control characters and line breaks become spaces."""
    text = "".join(" " if unicodedata.category(c)[0] in ("C", "Z") else c for c in str(text or ""))
    return re.sub(r" {2,}", " ", text).strip()


def _width(font: ImageFont.FreeTypeFont, text: str) -> float:
    return font.getlength(text)


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: int, max_lines: int) -> list[str]:
    """Greedy line breaking by drawn width: Chinese breaks between any two characters,
    Latin words stay whole unless longer than a line. Text beyond ``max_lines`` is cut and
    the last line ends with an ellipsis."""
    tokens = deque(_TOKEN_RE.findall(_clean_text(text)))
    lines: list[str] = []
    line = ""
    while tokens:
        token = tokens.popleft()
        if not line and token.isspace():
            continue
        if _width(font, (line + token).rstrip()) <= max_width:
            line += token
            continue
        if line:
            tokens.appendleft(token)
        else:  # one word wider than the line: break it between characters
            cut = 1
            while cut < len(token) and _width(font, token[: cut + 1]) <= max_width:
                cut += 1
            line = token[:cut]
            if token[cut:]:
                tokens.appendleft(token[cut:])
        lines.append(line.rstrip())
        line = ""
        if len(lines) == max_lines:
            if any(not t.isspace() for t in tokens):
                last = lines[-1]
                while last and _width(font, last + ELLIPSIS) > max_width:
                    last = last[:-1]
                lines[-1] = last.rstrip() + ELLIPSIS
            return lines
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _fit(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> str:
    lines = wrap_text(text, font, max_width, 1)
    return lines[0] if lines else ""


# --- images ------------------------------------------------------------------------------
def load_image(data: bytes | None, *, max_pixels: int = MAX_SOURCE_PIXELS) -> Image.Image | None:
    """Untrusted image bytes → an RGB image, or None when they are missing, not an image,
    truncated, too large (bytes or pixels, decompression bombs included) or fail to decode.
    Never raises. EXIF orientation is applied; transparency is flattened on white."""
    if not data or len(data) > MAX_SOURCE_BYTES:
        return None
    try:
        # Image.open reads the header only; it refuses 2× Pillow's own bomb limit itself
        with Image.open(io.BytesIO(data), formats=SOURCE_FORMATS) as probe:
            width, height = probe.size
            if width <= 0 or height <= 0 or width * height > max_pixels:
                return None
            probe.draft("RGB", (2 * POSTER_SIZE[0], 2 * POSTER_SIZE[0]))  # JPEG: decode at a smaller scale
            probe.load()
            image = ImageOps.exif_transpose(probe) or probe
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, WHITE)
                flat.paste(rgba, mask=rgba.getchannel("A"))
                return flat
            return image.convert("RGB")
    except Exception as exc:  # noqa: BLE001 — any failure to decode untrusted bytes means "no image"
        logger.info("poster: unusable image (%s: %s)", type(exc).__name__, exc)
        return None


def _cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.fit(image, size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _placeholder(size: tuple[int, int], caption: str) -> Image.Image:
    """A quiet grey panel with a picture glyph (and the shop's name) where the product
    image would be."""
    width, height = size
    panel = Image.new("RGB", size, PLACEHOLDER_BG)
    draw = ImageDraw.Draw(panel)
    unit = min(width, height) // 6
    cx, cy = width // 2, height // 2 - unit // 2
    draw.rounded_rectangle(
        (cx - unit, cy - int(unit * 0.75), cx + unit, cy + int(unit * 0.75)),
        radius=unit // 6,
        outline=PLACEHOLDER_FG,
        width=max(2, unit // 12),
    )
    draw.ellipse((cx + unit // 4, cy - unit // 2, cx + unit // 2 + unit // 4, cy), fill=PLACEHOLDER_FG)
    draw.polygon(
        [
            (cx - unit + 8, cy + int(unit * 0.75) - 8),
            (cx - unit // 4, cy - unit // 6),
            (cx + unit // 3, cy + unit // 2),
        ],
        fill=PLACEHOLDER_FG,
    )
    caption = _clean_text(caption)
    if caption:
        font = poster_font(28)
        line = _fit(caption, font, width - 80)
        draw.text((cx, cy + unit + 20), line, font=font, fill=MUTED, anchor="mt")
    return panel


def _circle_mask(diameter: int) -> Image.Image:
    big = Image.new("L", (diameter * 4, diameter * 4), 0)
    ImageDraw.Draw(big).ellipse((0, 0, diameter * 4 - 1, diameter * 4 - 1), fill=255)
    return big.resize((diameter, diameter), Image.Resampling.LANCZOS)


def _avatar(avatar: bytes | None, name: str, diameter: int) -> tuple[Image.Image, Image.Image]:
    """The round avatar and its mask: the picture cropped to a circle, or the name's first
    letter on a coloured disc."""
    mask = _circle_mask(diameter)
    image = load_image(avatar)
    if image is not None:
        return _cover(image, (diameter, diameter)), mask
    name = _clean_text(name)
    colour = AVATAR_COLOURS[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(AVATAR_COLOURS)]
    disc = Image.new("RGB", (diameter, diameter), colour)
    initial = name[:1].upper() or "?"
    ImageDraw.Draw(disc).text(
        (diameter / 2, diameter / 2), initial, font=poster_font(int(diameter * 0.46)), fill=WHITE, anchor="mm"
    )
    return disc, mask


# --- the poster --------------------------------------------------------------------------
def poster_labels(*, distributor_word: str = "") -> dict[str, str]:
    """The poster's words in the active language. ``shared_by`` may use ``%(name)s`` (the
    distributor's name) and ``%(role)s`` (the shop's own word for a distributor)."""
    return {
        "role": distributor_word or _("Distributor"),
        "shared_by": _("Shared by %(role)s %(name)s"),
        "cta": _("Long-press or scan the QR code to buy"),
    }


def _shared_by(labels: Mapping[str, str], name: str) -> str:
    template = str(labels.get("shared_by") or "%(name)s")
    try:
        return template % {"name": name, "role": labels.get("role", "")}
    except (KeyError, ValueError, TypeError):
        return f"{template} {name}".strip()


def poster_png(
    *,
    shop_name: str,
    product_name: str,
    price_fen: int,
    list_price_fen: int | None,
    currency: str,
    product_image: bytes | None,
    qr_url: str,
    distributor_name: str,
    avatar: bytes | None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """A 750 × 1334 PNG: shop name, the product image (cover-cropped; a placeholder when
    missing or unusable), the product name on at most two lines, the price and the struck
    list price, the distributor's avatar and name, a call to action and the QR code.
    ``labels`` overrides the words of :func:`poster_labels`."""
    words = {**poster_labels(), **{k: str(v) for k, v in (labels or {}).items()}}
    width, height = POSTER_SIZE
    margin = 40
    poster = Image.new("RGB", POSTER_SIZE, WHITE)
    draw = ImageDraw.Draw(poster)

    # header: the shop's name
    header = 100
    title_font = poster_font(32)
    draw.text(
        (width / 2, header / 2), _fit(shop_name, title_font, width - 2 * margin), font=title_font, fill=INK, anchor="mm"
    )

    # the product image, square, full width
    picture_box = (width, width)
    picture = load_image(product_image)
    panel = _cover(picture, picture_box) if picture is not None else _placeholder(picture_box, shop_name)
    poster.paste(panel, (0, header))
    y = header + width + 30

    # product name: two lines at most
    name_font = poster_font(36)
    for line in wrap_text(product_name, name_font, width - 2 * margin, 2):
        draw.text((margin, y), line, font=name_font, fill=INK)
        y += 50
    y = max(y, header + width + 130)

    # price, then the list price struck through
    price_font = poster_font(56)
    price = format_money(int(price_fen), currency)
    draw.text((margin, y), price, font=price_font, fill=PRICE_RED)
    if list_price_fen is not None and int(list_price_fen) > int(price_fen):
        list_font = poster_font(30)
        x = margin + _width(price_font, price) + 24
        listed = format_money(int(list_price_fen), currency)
        baseline = y + price_font.getmetrics()[0]
        draw.text((x, baseline), listed, font=list_font, fill=MUTED, anchor="ls")
        mid = baseline - list_font.getmetrics()[0] * 0.35
        draw.line((x - 2, mid, x + _width(list_font, listed) + 2, mid), fill=MUTED, width=2)
    y += 90
    draw.line((margin, y, width - margin, y), fill=RULE, width=2)

    # bottom: avatar, name and call to action on the left, the QR on the right
    qr_box = 200
    qr_top = y + (height - y - qr_box) // 2
    poster.paste(_qr_image(qr_url, qr_box), (width - margin - qr_box, qr_top))
    left_width = width - 3 * margin - qr_box
    diameter = 88
    avatar_image, mask = _avatar(avatar, distributor_name, diameter)
    avatar_top = y + 30
    poster.paste(avatar_image, (margin, avatar_top), mask)
    name_x = margin + diameter + 20
    beside = left_width - diameter - 20
    who_font = poster_font(28)
    small = poster_font(22)
    name = _clean_text(distributor_name)
    draw.text((name_x, avatar_top + 28), _fit(name, who_font, beside), font=who_font, fill=INK, anchor="lm")
    draw.text(
        (name_x, avatar_top + 68), _fit(_shared_by(words, name), small, beside), font=small, fill=MUTED, anchor="lm"
    )
    text_y = avatar_top + diameter + 24
    cta_font = poster_font(24)
    for line in wrap_text(words.get("cta", ""), cta_font, left_width, 2):
        draw.text((margin, text_y), line, font=cta_font, fill=INK)
        text_y += 34

    out = io.BytesIO()
    poster.save(out, format="PNG")
    return out.getvalue()


# --- caching in the shop's storage -------------------------------------------------------
def _digest(value: Any, length: int) -> str:
    payload = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def poster_name(*, product_id: int | None, distributor_code: str, picture: Mapping[str, Any], variant: str = "") -> str:
    """Where a poster lives in the shop's storage: ``posters/<p<id>|shop>/<code>/<variant>-<key>.png``.
    ``key`` hashes everything that changes the picture (and the renderer's version)."""
    code = clean_code(distributor_code)
    folder = f"p{int(product_id)}" if product_id is not None else "shop"
    variant_key = _digest(variant, 8)
    key = _digest(
        {"renderer": RENDERER_VERSION, "product": product_id, "code": code, "variant": variant, "picture": picture}, 32
    )
    return f"{POSTER_FOLDER}/{folder}/{code}/{variant_key}-{key}.png"


def _prune(store: Storage, keep: str) -> None:
    """Best effort: delete the posters this one supersedes (same product, distributor and
    variant), and other variants' posters once they are old."""
    folder, _sep, current = keep.rpartition("/")
    variant = current.split("-", 1)[0]
    try:
        _dirs, files = store.listdir(folder)
    except (OSError, NotImplementedError, ValueError) as exc:
        logger.warning("poster: cannot list %s: %s", folder, exc)
        return
    cutoff = timezone.now() - STALE_VARIANT_AGE
    for file in files:
        if file == current or not file.endswith(".png"):
            continue
        name = f"{folder}/{file}"
        try:
            if file.split("-", 1)[0] != variant and store.get_modified_time(name) > cutoff:
                continue
            store.delete(name)
        except Exception as exc:  # noqa: BLE001 — cleanup never fails the request that triggered it
            logger.warning("poster: cannot delete %s: %s", name, exc)


def poster_for(
    *,
    product_id: int | None,
    distributor_code: str,
    picture: Mapping[str, Any],
    render: Callable[[], bytes],
    variant: str = "",
    storage: Storage | None = None,
) -> str:
    """The URL of the cached poster, rendering and storing it on a miss.

    ``picture`` holds everything (JSON-able) that changes the picture besides the product
    and the distributor's code: the product's version (``updated_at``), price, list price,
    image identity (its storage name), the distributor's name and avatar identity, the
    labels. A change to any of them gives a new name, so a changed product is never served
    its old poster; the superseded file is deleted. ``variant`` separates posters that
    legitimately coexist (one per language), so they don't evict each other. The shop's
    storage puts it in the shop's own folder (or S3 prefix)."""
    store = storage or default_storage
    name = poster_name(product_id=product_id, distributor_code=distributor_code, picture=picture, variant=variant)
    if store.exists(name):
        return store.url(name)
    data = render()
    saved = store.save(name, ContentFile(data))
    if saved != name:
        # rendered concurrently by another request: the content is the same, keep one name
        try:
            store.delete(saved)
        except Exception as exc:  # noqa: BLE001
            logger.warning("poster: cannot delete duplicate %s: %s", saved, exc)
    _prune(store, name)
    return store.url(name)


@dataclass(frozen=True)
class PosterSpec:
    """What a product (or shop) poster shows, as plain values. ``product_version`` is what
    changes when the product is edited (``product.updated_at``); ``product_image_key`` and
    ``avatar_key`` identify the images (storage names) so a cache hit reads neither.
    ``labels`` overrides :func:`poster_labels` (pass ``{"role": <the shop's word for a
    distributor>}`` at least); ``product_facts(product)`` gives the product's fields."""

    shop_name: str
    product_id: int | None
    product_version: str
    product_name: str
    price_fen: int
    list_price_fen: int | None
    currency: str
    product_image_key: str
    qr_url: str
    distributor_code: str
    distributor_name: str
    avatar_key: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    variant: str = ""  # e.g. the language code

    def words(self) -> dict[str, str]:
        """The labels drawn: the active language's defaults, overridden by ``labels``."""
        return {**poster_labels(), **{k: str(v) for k, v in self.labels.items()}}

    def picture(self) -> dict[str, Any]:
        return {
            "shop": self.shop_name,
            "version": self.product_version,
            "name": self.product_name,
            "price": self.price_fen,
            "list_price": self.list_price_fen,
            "currency": self.currency,
            "image": self.product_image_key,
            "qr": self.qr_url,
            "distributor": self.distributor_name,
            "avatar": self.avatar_key,
            "labels": self.words(),
        }


def product_facts(product: Any) -> dict[str, Any]:
    """What a poster shows of a catalogue product, as :class:`PosterSpec` fields: its
    version (``updated_at``), name, the lowest price a buyer pays now (a running activity's)
    and, struck through, that SKU's regular or list price, and the first image's storage
    name. Two queries, more while an activity runs."""
    from shop.marketing.selectors import pay_now_prices

    image = product.images.order_by("position", "id").first()
    skus = list(product.skus.filter(is_active=True).select_related("product").order_by("price", "id"))
    now = pay_now_prices(skus)  # a running discount's price is what a buyer pays, and what the poster says
    sku = min(skus, key=lambda s: (now[s.pk], s.pk)) if skus else None
    price = now[sku.pk] if sku is not None else product.min_price
    listed = max(sku.price, sku.list_price or 0) if sku is not None else 0
    list_price = listed if sku is not None and listed > price else None
    return {
        "product_id": product.pk,
        "product_version": product.updated_at.isoformat() if product.updated_at else "",
        "product_name": product.name,
        "price_fen": int(price),
        "list_price_fen": list_price,
        "product_image_key": (image.image.name or "") if image is not None else "",
    }


def product_poster(
    spec: PosterSpec,
    *,
    product_image: Callable[[], bytes | None] = lambda: None,
    avatar: Callable[[], bytes | None] = lambda: None,
    storage: Storage | None = None,
) -> str:
    """The URL of ``spec``'s poster; the images are read (through the callables) only
    when it has to be rendered. Posters in different languages coexist: the variant is
    ``spec.variant`` or else the active language."""
    words = spec.words()

    def render() -> bytes:
        return poster_png(
            shop_name=spec.shop_name,
            product_name=spec.product_name,
            price_fen=spec.price_fen,
            list_price_fen=spec.list_price_fen,
            currency=spec.currency,
            product_image=product_image(),
            qr_url=spec.qr_url,
            distributor_name=spec.distributor_name,
            avatar=avatar(),
            labels=words,
        )

    return poster_for(
        product_id=spec.product_id,
        distributor_code=spec.distributor_code,
        picture=spec.picture(),
        render=render,
        variant=spec.variant or translation.get_language() or "",
        storage=storage,
    )


def read_file(name: str, storage: Storage | None = None, *, limit: int = MAX_SOURCE_BYTES) -> bytes | None:
    """The bytes of a stored file (a product image, an avatar), or None when it is missing,
    unreadable or larger than ``limit``: a poster is drawn with a placeholder instead."""
    if not name:
        return None
    store = storage or default_storage
    try:
        with store.open(name, "rb") as fh:
            data = fh.read(limit + 1)
    except Exception as exc:  # noqa: BLE001 — a missing image must not fail the poster
        logger.info("poster: cannot read %s: %s", name, exc)
        return None
    return data if len(data) <= limit else None


def delete_posters(
    *, product_id: int | None = None, distributor_code: str | None = None, storage: Storage | None = None
) -> int:
    """Best effort: remove the cached posters of a product (all distributors), of a
    distributor (with ``product_id`` too: of that pair), e.g. when a product is deleted or a
    distributor is banned. Returns how many files went."""
    store = storage or default_storage
    if product_id is not None:
        folders: Iterable[str] = [f"{POSTER_FOLDER}/p{int(product_id)}"]
    else:
        try:
            folders = [f"{POSTER_FOLDER}/{d}" for d in store.listdir(POSTER_FOLDER)[0]]
        except (OSError, NotImplementedError, ValueError):
            return 0
    removed = 0
    for folder in folders:
        try:
            codes = store.listdir(folder)[0]
        except (OSError, NotImplementedError, ValueError):
            continue
        for code in codes:
            if distributor_code is not None and code != distributor_code:
                continue
            try:
                files = store.listdir(f"{folder}/{code}")[1]
            except (OSError, NotImplementedError, ValueError):
                continue
            for file in files:
                try:
                    store.delete(f"{folder}/{code}/{file}")
                    removed += 1
                except Exception as exc:  # noqa: BLE001
                    logger.warning("poster: cannot delete %s/%s/%s: %s", folder, code, file, exc)
    return removed
