"""The block types a page is made of, each with a field spec, defaults, a validator and a
resolver.

A page is a list of ``{"id", "type", "config"}``. ``config`` is plain JSON (strings, ints,
lists, dicts) so a Liquid section ``block-<type>`` or a mini-program reads it directly.

* ``clean_blocks`` checks a whole list against the registry and returns the cleaned list,
  or raises a ``ValidationError`` whose keys are paths such as ``blocks[3].config.limit``
  or ``blocks[0].config.slides[1].link.url``. Rich text comes back sanitised (nh3, an
  allow-list), plain text fields refuse markup, links are typed and never ``javascript:``,
  images must live in the shop's own media. Product and category ids are checked against
  the shop's schema in one query each, whatever the number of blocks.
* ``resolve_blocks`` turns the stored list into render-ready data (products with price in
  fen, list price, image and url; categories with url) with a constant number of queries for
  the whole page: every block first says what it needs, the needs are fetched in batches,
  then each block picks its data. Blocks whose feature the shop's tier lacks are left out.

The catalogue has no tags, so a product grid's sources are a category (with its
subcategories), hand-picked products, the newest products and the best sellers.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import nh3
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db.models import F, Min, Prefetch, Q, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from platform_core.features import has_feature
from platform_core.parsing import as_id

logger = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_GRID_PRODUCTS = 20
BLOCK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
# "<b", "</", "<!--", "<?": the start of markup. A lone "<" ("满100<200") is fine.
MARKUP_RE = re.compile(r"<\s*[/!?a-zA-Z]")
LINK_TYPES = ("product", "category", "page", "search", "url")

# --- rich text allow-list ------------------------------------------------------------------
RICH_TEXT_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "s",
    "del",
    "small",
    "sub",
    "sup",
    "h2",
    "h3",
    "h4",
    "ul",
    "ol",
    "li",
    "blockquote",
    "a",
    "img",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
RICH_TEXT_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
RICH_TEXT_MAX = 20_000


def sanitise_html(html: str) -> str:
    """Only the allow-listed tags and attributes survive; no script, style, on* handlers,
    and links only to http(s), mailto, tel or relative addresses."""
    return nh3.clean(
        html,
        tags=RICH_TEXT_TAGS,
        attributes=RICH_TEXT_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# --- storefront addresses (one place, for the theme and the mini-program alike) -------------
def product_url(pk: int) -> str:
    return f"/products/{pk}/"


def category_url(pk: int) -> str:
    return f"/products/?{urlencode({'category': pk})}"


def search_url(q: str) -> str:
    return f"/products/?{urlencode({'q': q})}"


def page_url(slug: str) -> str:
    return "/" if slug == "home" else f"/pages/{slug}/"


DISTRIBUTOR_URL = "/account/distributor/"


def link_href(link: dict[str, Any] | None) -> str | None:
    if not link:
        return None
    kind = link.get("type")
    if kind == "product":
        return product_url(link["id"])
    if kind == "category":
        return category_url(link["id"])
    if kind == "page":
        return page_url(link["slug"])
    if kind == "search":
        return search_url(link["q"])
    if kind == "url":
        return str(link["url"])
    return None


# --- validation context ---------------------------------------------------------------------
@dataclass
class Checker:
    """Collects field errors by path, and the ids to look up once for the whole page."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    products: dict[int, list[str]] = field(default_factory=dict)
    categories: dict[int, list[str]] = field(default_factory=dict)
    pages: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def forget(self, path: str) -> None:
        """Drop the references recorded under ``path`` (a field the block ignores)."""
        for refs in (self.products, self.categories, self.pages):
            for key in list(refs):
                refs[key] = [p for p in refs[key] if p != path]  # type: ignore[index]
                if not refs[key]:  # type: ignore[index]
                    del refs[key]  # type: ignore[arg-type]

    def has_errors_under(self, path: str) -> bool:
        return any(k == path or k.startswith(path + ".") or k.startswith(path + "[") for k in self.errors)

    def check_references(self) -> None:
        from shop.catalogue.models import Category, Product
        from shop.decoration.models import Page

        if self.products:
            found = set(Product.objects.filter(pk__in=list(self.products)).values_list("pk", flat=True))
            for pk, paths in self.products.items():
                if pk not in found:
                    for path in paths:
                        self.add(path, _("There is no product %(id)s in this shop.") % {"id": pk})
        if self.categories:
            found = set(Category.objects.filter(pk__in=list(self.categories)).values_list("pk", flat=True))
            for pk, paths in self.categories.items():
                if pk not in found:
                    for path in paths:
                        self.add(path, _("There is no category %(id)s in this shop.") % {"id": pk})
        if self.pages:
            found_slugs = set(Page.objects.filter(slug__in=list(self.pages)).values_list("slug", flat=True))
            for slug, paths in self.pages.items():
                if slug != "home" and slug not in found_slugs:
                    for path in paths:
                        self.add(path, _("There is no page “%(slug)s” in this shop.") % {"slug": slug})


def _no_controls(text: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


def safe_url(value: str) -> bool:
    """http(s) with a host, or a path on this site ("/…"); nothing else (no javascript:,
    data:, protocol-relative "//host", backslashes or hidden whitespace)."""
    if not value or len(value) > 500 or "\\" in value or not _no_controls(value) or " " in value:
        return False
    if value.startswith("/"):
        return not value.startswith("//")
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def media_prefix() -> str:
    """Where the current shop's media files are served from (per call: the shop changes)."""
    probe = "decoration/__probe__"
    url = default_storage.url(probe)
    at = url.find(probe)
    return url[:at] if at > 0 else url


def is_shop_media(value: str) -> bool:
    if not value or len(value) > 500 or "\\" in value or ".." in value or not _no_controls(value) or " " in value:
        return False
    prefix = media_prefix()
    if not value.startswith(prefix) or len(value) == len(prefix):
        return False
    tail = value[len(prefix) :]
    return "?" not in tail and "#" not in tail


# --- field spec -----------------------------------------------------------------------------
@dataclass
class Field:
    """One configurable field. ``kind`` is one of: text, textarea, html, int, percent,
    choice, bool, image, link, list (items with ``fields``), product_ids, category,
    category_ids, ids. ``show_if`` tells the editor when to show it (``{"source": [...]}``)."""

    name: str
    kind: str
    label: Any
    required: bool = False
    default: Any = None
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    choices: list[tuple[str, Any]] | None = None
    fields: list[Field] | None = None
    min_items: int = 0
    max_items: int | None = None
    show_if: dict[str, list[str]] | None = None
    help: Any = None
    placeholder: Any = None

    def default_value(self) -> Any:
        if self.kind == "list":
            return list(self.default or [])
        if self.kind in ("product_ids", "category_ids", "ids", "coupon_ids"):
            return list(self.default or [])
        if self.default is None and self.kind in ("text", "textarea", "html", "image"):
            return ""
        return self.default

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "label": str(self.label)}
        if self.required:
            out["required"] = True
        default = self.default_value()
        if default is not None:
            out["default"] = default
        for key in ("min", "max", "max_length", "max_items", "show_if"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.min_items:
            out["min_items"] = self.min_items
        if self.choices is not None:
            out["choices"] = [[value, str(label)] for value, label in self.choices]
        if self.fields is not None:
            out["fields"] = [f.spec() for f in self.fields]
        if self.help is not None:
            out["help"] = str(self.help)
        if self.placeholder is not None:
            out["placeholder"] = str(self.placeholder)
        return out


def _clean_text(f: Field, value: Any, path: str, c: Checker) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        c.add(path, _("Enter text."))
        return None
    value = value.strip()
    if f.kind == "text" and ("\n" in value or "\r" in value):
        value = " ".join(value.split())
    if f.required and not value:
        c.add(path, _("This field is required."))
        return None
    if f.max_length is not None and len(value) > f.max_length:
        c.add(path, _("Use at most %(n)s characters.") % {"n": f.max_length})
        return None
    if f.kind in ("text", "textarea"):
        if MARKUP_RE.search(value):
            c.add(path, _("Plain text only: HTML tags are not allowed here."))
            return None
        if not _no_controls(value.replace("\n", "").replace("\r", "").replace("\t", "")):
            c.add(path, _("Remove the invisible control characters."))
            return None
    if f.kind == "html":
        value = sanitise_html(value).strip()
        if f.required and not value:
            c.add(path, _("This field is required."))
            return None
    return value


def _clean_int(f: Field, value: Any, path: str, c: Checker) -> int | None:
    if value is None or value == "":
        if f.required:
            c.add(path, _("This field is required."))
        return None if f.required else f.default
    if isinstance(value, str) and value.strip().isascii() and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        c.add(path, _("Enter a whole number."))
        return None
    if f.min is not None and value < f.min or f.max is not None and value > f.max:
        c.add(path, _("Enter a whole number from %(min)s to %(max)s.") % {"min": f.min, "max": f.max})
        return None
    return value


def _clean_percent(f: Field, value: Any, path: str, c: Checker) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        c.add(path, _("Enter a number from 0 to 100."))
        return None
    if not 0 <= value <= 100:
        c.add(path, _("Enter a number from 0 to 100."))
        return None
    rounded = round(float(value), 2)
    return int(rounded) if rounded.is_integer() else rounded


def _clean_link(value: Any, path: str, c: Checker, *, required: bool) -> dict[str, Any] | None:
    if value in (None, "", {}):
        if required:
            c.add(path, _("Choose where this leads."))
        return None
    if not isinstance(value, dict):
        c.add(path, _("A link is an object with a type."))
        return None
    kind = value.get("type")
    if kind not in LINK_TYPES:
        c.add(f"{path}.type", _("One of: %(choices)s.") % {"choices": ", ".join(LINK_TYPES)})
        return None
    if kind in ("product", "category"):
        pk = as_id(value.get("id"))
        if pk is None:
            c.add(f"{path}.id", _("Enter the id of a %(kind)s.") % {"kind": kind})
            return None
        (c.products if kind == "product" else c.categories).setdefault(pk, []).append(f"{path}.id")
        return {"type": kind, "id": pk}
    if kind == "page":
        slug = value.get("slug", value.get("id"))
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            c.add(f"{path}.slug", _("Enter the address of a page."))
            return None
        c.pages.setdefault(slug, []).append(f"{path}.slug")
        return {"type": "page", "slug": slug}
    if kind == "search":
        q = value.get("q")
        if not isinstance(q, str) or not q.strip() or len(q.strip()) > 40 or not _no_controls(q):
            c.add(f"{path}.q", _("Enter search words (at most 40 characters)."))
            return None
        return {"type": "search", "q": q.strip()}
    url = value.get("url")
    url = url.strip() if isinstance(url, str) else ""
    if not safe_url(url):
        c.add(f"{path}.url", _("Enter an http(s) address or a path on this site starting with “/”."))
        return None
    return {"type": "url", "url": url}


def _clean_ids(f: Field, value: Any, path: str, c: Checker) -> list[int] | None:
    if value is None:
        value = []
    if not isinstance(value, list):
        c.add(path, _("Send a list of ids."))
        return None
    ids: list[int] = []
    for item in value:
        pk = as_id(item)
        if pk is None:
            c.add(path, _("Each entry must be an id."))
            return None
        if pk in ids:
            c.add(path, _("Id %(id)s appears twice.") % {"id": pk})
            return None
        ids.append(pk)
    if len(ids) < max(f.min_items, 1 if f.required else 0):
        c.add(path, _("Choose at least %(n)s.") % {"n": max(f.min_items, 1)})
        return None
    if f.max_items is not None and len(ids) > f.max_items:
        c.add(path, _("Choose at most %(n)s.") % {"n": f.max_items})
        return None
    registry = {"product_ids": c.products, "category_ids": c.categories}.get(f.kind)
    if registry is not None:
        for pk in ids:
            registry.setdefault(pk, []).append(path)
    return ids


def clean_fields(fields: list[Field], config: Any, path: str, c: Checker) -> dict[str, Any]:
    """The config with exactly the spec's fields (unknown keys dropped, missing ones at
    their default), each checked; errors recorded under ``path.<name>``."""
    if not isinstance(config, dict):
        c.add(path, _("Send an object."))
        return {}
    out: dict[str, Any] = {}
    for f in fields:
        where = f"{path}.{f.name}"
        value = config.get(f.name, f.default_value())
        cleaned: Any = None
        if f.kind in ("text", "textarea", "html"):
            cleaned = _clean_text(f, value, where, c)
        elif f.kind == "int":
            cleaned = _clean_int(f, value, where, c)
        elif f.kind == "percent":
            cleaned = _clean_percent(f, value, where, c)
        elif f.kind == "bool":
            if not isinstance(value, bool):
                c.add(where, _("Send true or false."))
            cleaned = bool(value)
        elif f.kind == "choice":
            allowed = [v for v, _label in f.choices or []]
            if value not in allowed:
                c.add(where, _("One of: %(choices)s.") % {"choices": ", ".join(allowed)})
            cleaned = value
        elif f.kind == "image":
            value = value.strip() if isinstance(value, str) else value
            if value in (None, ""):
                if f.required:
                    c.add(where, _("Choose an image."))
                cleaned = ""
            elif not isinstance(value, str) or not is_shop_media(value):
                c.add(where, _("Choose an image uploaded to this shop."))
            else:
                cleaned = value
        elif f.kind == "link":
            cleaned = _clean_link(value, where, c, required=f.required)
        elif f.kind == "category":
            if value in (None, ""):
                cleaned = None
            else:
                cleaned = as_id(value)
                if cleaned is None:
                    c.add(where, _("Choose a category."))
                else:
                    c.categories.setdefault(cleaned, []).append(where)
        elif f.kind in ("product_ids", "category_ids", "ids", "coupon_ids"):
            cleaned = _clean_ids(f, value, where, c)
        elif f.kind == "list":
            cleaned = _clean_list(f, value, where, c)
        else:  # pragma: no cover - a programming error in the registry
            raise ValueError(f"unknown field kind {f.kind!r}")
        out[f.name] = cleaned
    return out


def _clean_list(f: Field, value: Any, path: str, c: Checker) -> list[dict[str, Any]]:
    if value is None:
        value = []
    if not isinstance(value, list):
        c.add(path, _("Send a list."))
        return []
    if len(value) < f.min_items:
        c.add(path, _("Add at least %(n)s.") % {"n": f.min_items})
        return []
    if f.max_items is not None and len(value) > f.max_items:
        c.add(path, _("Add at most %(n)s.") % {"n": f.max_items})
        return []
    return [clean_fields(f.fields or [], item, f"{path}[{i}]", c) for i, item in enumerate(value)]


# --- resolving --------------------------------------------------------------------------------
@dataclass
class Needs:
    product_ids: set[int] = field(default_factory=set)
    newest: int = 0
    best_sellers: int = 0
    category_grids: dict[int, int] = field(default_factory=dict)  # category → largest limit


@dataclass
class Fetched:
    products: dict[int, dict[str, Any]]
    categories: dict[int, dict[str, Any]]  # every category: id, name, parent, is_active, url
    newest: list[int]
    best_sellers: list[int]
    by_category: dict[int, list[int]]  # the grid's category → product ids, newest first
    provided: dict[str, list[Any]]  # block type → the data provider's answers, in block order
    tenant: Any = None

    def product_list(self, ids: Iterable[int], limit: int | None = None) -> list[dict[str, Any]]:
        found = [self.products[pk] for pk in ids if pk in self.products]
        return found[:limit] if limit is not None else found

    def visible_categories(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        return [
            {"id": c["id"], "name": c["name"], "url": c["url"]}
            for c in (self.categories.get(pk) for pk in ids)
            if c is not None and c["is_active"]
        ]


DataProvider = Callable[[list[dict[str, Any]]], list[Any]]
DATA_PROVIDERS: dict[str, DataProvider] = {}


def register_data_provider(block_type: str, provider: DataProvider) -> None:
    """Marketing plugs its data in here (coupons, flash sales, group buys) without this app
    importing it: ``provider(configs)`` answers one ``data`` dict per config, in order, in a
    bounded number of queries. Until one is registered those blocks resolve to no items."""
    if block_type not in REGISTRY:
        raise KeyError(block_type)
    DATA_PROVIDERS[block_type] = provider


# --- block types ------------------------------------------------------------------------------
@dataclass
class BlockType:
    type: str
    label: Any
    fields: list[Field]
    description: Any = ""
    feature: str | None = None
    check: Callable[[dict[str, Any], str, Checker], None] | None = None
    needs: Callable[[dict[str, Any], Needs], None] | None = None
    resolver: Callable[[dict[str, Any], Fetched], dict[str, Any]] | None = None

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default_value() for f in self.fields}

    def spec(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "label": str(self.label),
            "description": str(self.description),
            "fields": [f.spec() for f in self.fields],
            "defaults": self.defaults(),
            "feature": self.feature,
        }

    def validate(self, config: Any, path: str, c: Checker) -> dict[str, Any]:
        """The cleaned config; errors are recorded in ``c`` under ``path``."""
        cleaned = clean_fields(self.fields, config, path, c)
        if self.check is not None and not c.has_errors_under(path):
            self.check(cleaned, path, c)
        return cleaned

    def resolve(self, config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
        if self.resolver is None:
            return {}
        return self.resolver(config, fetched)


def _link_field(name: str = "link", label: Any = None, required: bool = False) -> Field:
    return Field(name, "link", label or _l("Link"), required=required)


def _with_hrefs(items: list[dict[str, Any]], key: str = "link") -> list[dict[str, Any]]:
    return [{**item, "href": link_href(item.get(key))} for item in items]


# banner carousel
def _banner_resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
    return {"slides": _with_hrefs(config["slides"])}


# product grid
GRID_SOURCES = [
    ("category", _l("A category (newest first)")),
    ("manual", _l("Hand-picked products")),
    ("newest", _l("Newest products")),
    ("best_sellers", _l("Best sellers")),
]


def _grid_check(config: dict[str, Any], path: str, c: Checker) -> None:
    if config["source"] == "category" and config["category"] is None:
        c.add(f"{path}.category", _("Choose the category whose products are shown."))
    if config["source"] == "manual" and not config["product_ids"]:
        c.add(f"{path}.product_ids", _("Pick at least one product."))
    if config["source"] != "category":
        config["category"] = None
        c.forget(f"{path}.category")
    if config["source"] != "manual":
        config["product_ids"] = []
        c.forget(f"{path}.product_ids")


def _grid_needs(config: dict[str, Any], needs: Needs) -> None:
    source, limit = config["source"], config["limit"]
    if source == "manual":
        needs.product_ids.update(config["product_ids"])
    elif source == "newest":
        needs.newest = max(needs.newest, limit)
    elif source == "best_sellers":
        needs.best_sellers = max(needs.best_sellers, limit)
    elif source == "category" and config["category"]:
        needs.category_grids[config["category"]] = max(needs.category_grids.get(config["category"], 0), limit)


def _grid_resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
    source, limit = config["source"], config["limit"]
    ids: list[int] = {
        "manual": config["product_ids"],
        "newest": fetched.newest,
        "best_sellers": fetched.best_sellers,
        "category": fetched.by_category.get(config["category"] or 0, []),
    }[source]
    products = fetched.product_list(ids, None if source == "manual" else limit)
    data: dict[str, Any] = {"products": products}
    if source == "category" and config["category"] in fetched.categories:
        data["more_url"] = fetched.categories[config["category"]]["url"]
    return data


# category navigation
def _category_nav_resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
    ids = config["categories"] or [c["id"] for c in fetched.categories.values() if c["parent"] is None]
    return {"categories": fetched.visible_categories(ids)}


# image with hotspots
def _hotspots_check(config: dict[str, Any], path: str, c: Checker) -> None:
    for i, spot in enumerate(config["hotspots"]):
        where = f"{path}.hotspots[{i}]"
        if spot["w"] <= 0:
            c.add(f"{where}.w", _("Give the area a width."))
        elif spot["x"] + spot["w"] > 100:
            c.add(f"{where}.w", _("The area runs past the right edge of the image."))
        if spot["h"] <= 0:
            c.add(f"{where}.h", _("Give the area a height."))
        elif spot["y"] + spot["h"] > 100:
            c.add(f"{where}.h", _("The area runs past the bottom edge of the image."))


def _hotspots_resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
    return {"hotspots": _with_hrefs(config["hotspots"])}


def _notice_resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
    return {"href": link_href(config["link"])}


def _recruit_resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
    return {"url": DISTRIBUTOR_URL}


def _search_resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
    return {"action": "/products/"}


def _provided(block_type: str) -> Callable[[dict[str, Any], Fetched], dict[str, Any]]:
    def resolve(config: dict[str, Any], fetched: Fetched) -> dict[str, Any]:
        answers = fetched.provided.get(block_type)
        if answers:
            return dict(answers.pop(0))
        return {"items": []}

    return resolve


REGISTRY: dict[str, BlockType] = {
    b.type: b
    for b in [
        BlockType(
            "banner",
            _l("Banner carousel"),
            [
                Field(
                    "slides",
                    "list",
                    _l("Slides"),
                    min_items=1,
                    max_items=10,
                    default=[],
                    fields=[
                        Field("image", "image", _l("Image"), required=True),
                        Field("alt", "text", _l("Description (for screen readers)"), max_length=80),
                        _link_field(),
                    ],
                ),
                Field("interval", "int", _l("Seconds per slide"), default=4, min=2, max=10),
            ],
            _l("Large images that turn one after another, each leading somewhere."),
            resolver=_banner_resolve,
        ),
        BlockType(
            "product_grid",
            _l("Product grid"),
            [
                Field("title", "text", _l("Title"), max_length=40),
                Field("source", "choice", _l("Products"), default="newest", choices=GRID_SOURCES),
                Field("category", "category", _l("Category"), show_if={"source": ["category"]}),
                Field(
                    "product_ids",
                    "product_ids",
                    _l("Products"),
                    max_items=MAX_GRID_PRODUCTS,
                    show_if={"source": ["manual"]},
                ),
                Field(
                    "limit",
                    "int",
                    _l("How many"),
                    default=6,
                    min=1,
                    max=MAX_GRID_PRODUCTS,
                    show_if={"source": ["category", "newest", "best_sellers"]},
                ),
                Field("columns", "int", _l("Columns"), default=2, min=2, max=3),
            ],
            _l("Products from a category, picked by hand, the newest or the best sellers."),
            check=_grid_check,
            needs=_grid_needs,
            resolver=_grid_resolve,
        ),
        BlockType(
            "category_nav",
            _l("Category navigation"),
            [
                Field(
                    "categories",
                    "category_ids",
                    _l("Categories"),
                    max_items=20,
                    help=_l("Leave empty to show every top-level category."),
                ),
                Field(
                    "layout",
                    "choice",
                    _l("Layout"),
                    default="grid",
                    choices=[("grid", _l("Icon grid")), ("scroll", _l("Scrolling row"))],
                ),
            ],
            _l("Shortcuts to your categories."),
            resolver=_category_nav_resolve,
        ),
        BlockType(
            "search",
            _l("Search bar"),
            [Field("placeholder", "text", _l("Placeholder"), max_length=40, default="")],
            _l("A search box for your products."),
            resolver=_search_resolve,
        ),
        BlockType(
            "notice",
            _l("Notice bar"),
            [Field("text", "text", _l("Text"), required=True, max_length=200), _link_field()],
            _l("A one-line announcement."),
            resolver=_notice_resolve,
        ),
        BlockType(
            "coupons",
            _l("Coupons"),
            [
                Field("title", "text", _l("Title"), max_length=40),
                Field("template_ids", "coupon_ids", _l("Coupons"), max_items=10, min_items=1, required=True),
            ],
            _l("Coupons shoppers can claim."),
            feature="coupons",
            resolver=_provided("coupons"),
        ),
        BlockType(
            "flash_sale",
            _l("Flash sale"),
            [
                Field("title", "text", _l("Title"), max_length=40),
                Field("limit", "int", _l("How many"), default=4, min=1, max=MAX_GRID_PRODUCTS),
            ],
            _l("Your running and upcoming flash sales."),
            feature="flash_sales",
            resolver=_provided("flash_sale"),
        ),
        BlockType(
            "group_buy",
            _l("Group buying"),
            [
                Field("title", "text", _l("Title"), max_length=40),
                Field("limit", "int", _l("How many"), default=4, min=1, max=MAX_GRID_PRODUCTS),
            ],
            _l("Products shoppers can buy together at a group price."),
            feature="group_buying",
            resolver=_provided("group_buy"),
        ),
        BlockType(
            "distributor_recruit",
            _l("Distributor recruitment"),
            [
                Field("title", "text", _l("Title"), required=True, max_length=40),
                Field("text", "textarea", _l("Text"), max_length=300),
                Field("button", "text", _l("Button"), required=True, max_length=20),
            ],
            _l("Invite shoppers to become distributors."),
            resolver=_recruit_resolve,
        ),
        BlockType(
            "rich_text",
            _l("Rich text"),
            [Field("html", "html", _l("Content"), required=True, max_length=RICH_TEXT_MAX)],
            _l("Formatted text; scripts and styles are removed."),
        ),
        BlockType(
            "hotspots",
            _l("Image with hotspots"),
            [
                Field("image", "image", _l("Image"), required=True),
                Field(
                    "hotspots",
                    "list",
                    _l("Hotspots"),
                    max_items=20,
                    default=[],
                    help=_l("Rectangles in percent of the image's width and height."),
                    fields=[
                        Field("x", "percent", _l("Left (%)"), default=0),
                        Field("y", "percent", _l("Top (%)"), default=0),
                        Field("w", "percent", _l("Width (%)"), default=50),
                        Field("h", "percent", _l("Height (%)"), default=50),
                        _link_field(required=True),
                    ],
                ),
            ],
            _l("An image whose areas lead to products, categories or pages."),
            check=_hotspots_check,
            resolver=_hotspots_resolve,
        ),
        BlockType(
            "spacer",
            _l("Spacer"),
            [Field("height", "int", _l("Height (px)"), default=16, min=1, max=200)],
            _l("Empty space between blocks."),
        ),
    ]
}


GATED_FEATURES = sorted({b.feature for b in REGISTRY.values() if b.feature})


def allowed_types(tenant: Any) -> list[BlockType]:
    return [b for b in REGISTRY.values() if b.feature is None or has_feature(tenant, b.feature)]


def registry_spec(tenant: Any) -> list[dict[str, Any]]:
    return [b.spec() for b in allowed_types(tenant)]


def clean_blocks(raw: Any, *, tenant: Any, check_references: bool = True) -> list[dict[str, Any]]:
    """The cleaned list of blocks, or a ValidationError keyed by path (``blocks[3].config.limit``)."""
    c = Checker()
    if not isinstance(raw, list):
        raise ValidationError({"blocks": [_("Send a list of blocks.")]})
    if len(raw) > MAX_BLOCKS:
        raise ValidationError({"blocks": [_("A page holds at most %(n)s blocks.") % {"n": MAX_BLOCKS}]})
    cleaned: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for i, block in enumerate(raw):
        path = f"blocks[{i}]"
        if not isinstance(block, dict):
            c.add(path, _("A block is an object with a type and a config."))
            continue
        type_name = block.get("type")
        block_type = REGISTRY.get(type_name) if isinstance(type_name, str) else None
        if block_type is None:
            c.add(f"{path}.type", _("Unknown block type."))
            continue
        if block_type.feature and not has_feature(tenant, block_type.feature):
            c.add(f"{path}.type", _("%(block)s is not included in your plan.") % {"block": block_type.label})
            continue
        block_id = block.get("id") or uuid.uuid4().hex[:12]
        if not isinstance(block_id, str) or not BLOCK_ID_RE.match(block_id):
            c.add(f"{path}.id", _("Letters, digits, “-” and “_” only (at most 40)."))
            continue
        if block_id in seen_ids:
            c.add(f"{path}.id", _("Two blocks have the same id."))
            continue
        seen_ids.add(block_id)
        config = block_type.validate(block.get("config", {}), f"{path}.config", c)
        cleaned.append({"id": block_id, "type": block_type.type, "config": config})
    if check_references and not c.errors:
        c.check_references()
    if c.errors:
        raise ValidationError(c.errors)
    return cleaned


def _fetch(needs: Needs, provider_configs: dict[str, list[dict[str, Any]]], tenant: Any) -> Fetched:
    from shop.catalogue.models import Category, Product, ProductImage

    on_sale = Product.objects.filter(status=Product.Status.ON_SALE)
    categories: dict[int, dict[str, Any]] = {
        c.id: {"id": c.id, "name": c.name, "parent": c.parent_id, "is_active": c.is_active, "url": category_url(c.id)}
        for c in Category.objects.all()
    }
    newest = (
        list(
            on_sale.order_by(F("published_at").desc(nulls_last=True), "-id").values_list("id", flat=True)[
                : needs.newest
            ]
        )
        if needs.newest
        else []
    )
    best = (
        list(on_sale.order_by("-sales_count", "-id").values_list("id", flat=True)[: needs.best_sellers])
        if needs.best_sellers
        else []
    )
    by_category: dict[int, list[int]] = {}
    if needs.category_grids:
        children: dict[int | None, list[int]] = {}
        for c in categories.values():
            children.setdefault(c["parent"], []).append(c["id"])

        def family(pk: int) -> list[int]:
            ids, frontier = [pk], [pk]
            while frontier:
                frontier = [child for parent in frontier for child in children.get(parent, [])]
                ids.extend(frontier)
            return ids

        families = {pk: family(pk) for pk in needs.category_grids if pk in categories}
        members = {m for fam in families.values() for m in fam}
        # The newest N of each single category, N the largest limit asked: the newest N of
        # a family are among the newest N of its members. One query for every grid.
        top = max(needs.category_grids.values())
        rows = list(
            on_sale.filter(category_id__in=members)
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=[F("category_id")],
                    order_by=[F("published_at").desc(nulls_last=True), F("id").desc()],
                )
            )
            .filter(rank__lte=top)
            .values_list("id", "category_id", "published_at")
        )
        for pk, fam in families.items():
            fam_set = set(fam)
            picked = [r for r in rows if r[1] in fam_set]
            picked.sort(key=lambda r: (r[2] is not None, r[2], r[0]), reverse=True)
            by_category[pk] = [r[0] for r in picked[: needs.category_grids[pk]]]
    wanted = needs.product_ids | set(newest) | set(best) | {pk for ids in by_category.values() for pk in ids}
    products: dict[int, dict[str, Any]] = {}
    if wanted:
        rows_p = (
            on_sale.filter(pk__in=wanted)
            .annotate(list_price=Min("skus__list_price", filter=Q(skus__is_active=True)))
            .prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")))
        )
        for p in rows_p:
            images = list(p.images.all())
            list_price = p.list_price  # type: ignore[attr-defined]
            products[p.pk] = {
                "id": p.pk,
                "name": p.name,
                "subtitle": p.subtitle,
                "price": p.min_price,
                "max_price": p.max_price,
                "price_varies": p.min_price != p.max_price,
                "list_price": list_price if list_price and list_price > p.min_price else None,
                "sold": p.sales_count,
                "image": images[0].image.url if images else None,
                "url": product_url(p.pk),
            }
    provided: dict[str, list[Any]] = {}
    for block_type, configs in provider_configs.items():
        provider = DATA_PROVIDERS.get(block_type)
        if provider is None or not configs:
            continue
        try:
            provided[block_type] = list(provider(configs))
        except Exception:  # noqa: BLE001 - a failing provider hides its blocks, never the page
            logger.exception("decoration data provider for %s failed", block_type)
    return Fetched(products, categories, newest, best, by_category, provided, tenant)


def resolve_blocks(blocks: list[dict[str, Any]], *, tenant: Any) -> list[dict[str, Any]]:
    """Render-ready blocks ``{"id", "type", "config", "data"}`` in a constant number of
    queries. Unknown types, blocks the tier lacks, and blocks that fail to resolve are left
    out: a page never breaks because of one block."""
    usable: list[tuple[dict[str, Any], BlockType]] = []
    needs = Needs()
    provider_configs: dict[str, list[dict[str, Any]]] = {}
    for block in blocks:
        block_type = REGISTRY.get(block.get("type", "")) if isinstance(block, dict) else None
        if block_type is None or (block_type.feature and not has_feature(tenant, block_type.feature)):
            continue
        config = block.get("config") or {}
        try:
            if block_type.needs is not None:
                block_type.needs(config, needs)
        except (KeyError, TypeError, ValueError):
            logger.warning("decoration block %s has a config that no longer fits its type", block.get("id"))
            continue
        if block_type.type in DATA_PROVIDERS:
            provider_configs.setdefault(block_type.type, []).append(config)
        usable.append((block, block_type))
    fetched = _fetch(needs, provider_configs, tenant)
    out: list[dict[str, Any]] = []
    for block, block_type in usable:
        config = block.get("config") or {}
        try:
            data = block_type.resolve(config, fetched)
        except (KeyError, TypeError, ValueError, IndexError):
            logger.warning("decoration block %s could not be resolved", block.get("id"))
            continue
        out.append({"id": str(block.get("id") or ""), "type": block_type.type, "config": config, "data": data})
    return out
