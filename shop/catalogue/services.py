"""Every write to the catalogue, each in one transaction, with field-level errors."""

from __future__ import annotations

import itertools
import math
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core import images
from platform_core.features import check_limit
from platform_core.parsing import as_id
from shop.catalogue.models import Category, Product, ProductImage, ProductType, Sku
from shop.catalogue.selectors import bump_catalogue_version

MAX_CATEGORY_DEPTH = 3
MAX_SPEC_DIMENSIONS = 3
MAX_SPEC_VALUES = 30
MAX_SKUS = 600
MAX_IMAGES = 12
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PRICE = 100_000_000  # ¥1,000,000.00 in fen
MAX_STOCK = 10_000_000
MAX_WEIGHT_G = 1_000_000
LIMIT_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':products'))"
ATTRIBUTE_KINDS = {"text", "multiline", "number", "choice"}


def _errors(**fields: Any) -> ValidationError:
    return ValidationError({k: v if isinstance(v, list) else [v] for k, v in fields.items()})


# --- categories -------------------------------------------------------------------------
def _depth(category: Category | None) -> int:
    depth = 0
    while category is not None:
        depth += 1
        category = category.parent
    return depth


def category_save(
    *,
    name: str,
    parent: Category | None = None,
    position: int = 0,
    is_active: bool = True,
    category: Category | None = None,
) -> Category:
    name = (name or "").strip()
    if not name:
        raise _errors(name=_("Enter a name."))
    if len(name) > 40:
        raise _errors(name=_("Use at most 40 characters."))
    if parent is not None and _depth(parent) >= MAX_CATEGORY_DEPTH:
        raise _errors(parent=_("Categories nest at most %(n)s levels deep.") % {"n": MAX_CATEGORY_DEPTH})
    if category is not None and parent is not None:
        ancestor: Category | None = parent
        while ancestor is not None:
            if ancestor.pk == category.pk:
                raise _errors(parent=_("A category cannot be placed inside itself."))
            ancestor = ancestor.parent
    target = category or Category()
    target.name, target.parent, target.position, target.is_active = name, parent, position, is_active
    try:
        with transaction.atomic():
            target.save()
            bump_catalogue_version()
    except IntegrityError as exc:
        raise _errors(name=_("There is already a category with this name here.")) from exc
    return target


def category_delete(category: Category) -> None:
    if category.children.exists():
        raise _errors(category=_("Move or delete its subcategories first."))
    if category.products.exists():
        raise _errors(category=_("Move its products to another category first."))
    category.delete()
    bump_catalogue_version()


# --- product types ----------------------------------------------------------------------
def clean_attribute_schema(attributes: Any) -> list[dict[str, Any]]:
    if not isinstance(attributes, list):
        raise _errors(attributes=_("Send a list of attributes."))
    cleaned, keys = [], set()
    for i, item in enumerate(attributes):
        if not isinstance(item, dict):
            raise _errors(attributes=_("Attribute %(n)s: send an object.") % {"n": i + 1})
        key = str(item.get("key") or "").strip()
        label = str(item.get("label") or "").strip()
        kind = item.get("kind", "text")
        if not key or not key.replace("_", "").isalnum() or key in keys:
            raise _errors(
                attributes=_("Attribute %(n)s: a unique key of letters, digits and _ is needed.") % {"n": i + 1}
            )
        if not label:
            raise _errors(attributes=_("Attribute %(n)s: a label is needed.") % {"n": i + 1})
        if kind not in ATTRIBUTE_KINDS:
            raise _errors(
                attributes=_("Attribute %(n)s: kind must be text, multiline, number or choice.") % {"n": i + 1}
            )
        choices = [str(c).strip() for c in item.get("choices") or [] if str(c).strip()]
        if kind == "choice" and not choices:
            raise _errors(attributes=_("Attribute %(n)s: list the choices.") % {"n": i + 1})
        keys.add(key)
        cleaned.append(
            {"key": key, "label": label, "kind": kind, "choices": choices, "required": bool(item.get("required"))}
        )
    return cleaned


def product_type_save(*, name: str, attributes: Any, product_type: ProductType | None = None) -> ProductType:
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise _errors(name=_("Enter a name of at most 40 characters."))
    target = product_type or ProductType()
    target.name, target.attributes = name, clean_attribute_schema(attributes)
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError as exc:
        raise _errors(name=_("There is already a product type with this name.")) from exc
    return target


def clean_attribute_values(product_type: ProductType | None, values: Any) -> dict[str, Any]:
    if product_type is None:
        return {}
    if not isinstance(values, dict):
        raise _errors(attributes=_("Send the attributes as an object."))
    cleaned: dict[str, Any] = {}
    problems: list[str] = []
    for attr in product_type.attributes:
        raw = values.get(attr["key"])
        if raw in (None, ""):
            if attr.get("required"):
                problems.append(_("%(label)s is required.") % {"label": attr["label"]})
            continue
        if attr["kind"] == "number":
            try:
                number = int(raw) if str(raw).lstrip("-").isdecimal() else float(str(raw))
                if not math.isfinite(number) or abs(number) > 1e12:
                    raise ValueError
                cleaned[attr["key"]] = number
            except (ValueError, OverflowError):
                problems.append(_("%(label)s must be a number.") % {"label": attr["label"]})
        elif attr["kind"] == "choice":
            if raw not in attr["choices"]:
                problems.append(
                    _("%(label)s must be one of: %(choices)s.")
                    % {"label": attr["label"], "choices": ", ".join(attr["choices"])}
                )
            else:
                cleaned[attr["key"]] = raw
        else:
            text = str(raw).strip()
            if len(text) > 2000:
                problems.append(_("%(label)s is too long.") % {"label": attr["label"]})
            cleaned[attr["key"]] = text
    if problems:
        raise _errors(attributes=problems)
    return cleaned


# --- products and SKUs --------------------------------------------------------------------
def clean_specs(specs: Any) -> list[dict[str, Any]]:
    if specs in (None, ""):
        return []
    if not isinstance(specs, list) or len(specs) > MAX_SPEC_DIMENSIONS:
        raise _errors(
            specs=_("At most %(n)s specification dimensions (e.g. colour, size).") % {"n": MAX_SPEC_DIMENSIONS}
        )
    cleaned, names = [], set()
    for dim in specs:
        if not isinstance(dim, dict) or not isinstance(dim.get("values"), list):
            raise _errors(specs=_('Each dimension is {"name": …, "values": [ … ]}.'))
        name = str(dim.get("name") or "").strip()
        values = [str(v).strip() for v in dim["values"]]
        if not name or name in names:
            raise _errors(specs=_("Each dimension needs a unique name."))
        if not values or len(values) > MAX_SPEC_VALUES or len(set(values)) != len(values) or "" in values:
            raise _errors(specs=_("“%(dim)s”: give 1 to %(n)s different values.") % {"dim": name, "n": MAX_SPEC_VALUES})
        if any(len(v) > 40 for v in values) or len(name) > 20:
            raise _errors(specs=_("Keep names under 20 and values under 40 characters."))
        names.add(name)
        cleaned.append({"name": name, "values": values})
    return cleaned


def spec_key(specs: list[dict[str, Any]], values: dict[str, Any]) -> str:
    return "|".join(f"{d['name']}={values[d['name']]}" for d in specs)


def _money(value: Any, field: str, *, required: bool = True) -> int | None:
    if value in (None, "") and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE:
        raise _errors(**{field: _("Enter an amount in fen, a whole number from 0 to %(max)s.") % {"max": MAX_PRICE}})
    return value


def _clean_sku_rows(specs: list[dict[str, Any]], rows: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(rows, list) or not rows:
        raise _errors(skus=_("Give at least one SKU (price and stock)."))
    combos = list(itertools.product(*[d["values"] for d in specs])) if specs else [()]
    if len(combos) > MAX_SKUS:
        raise _errors(
            specs=_("These specifications make %(n)s SKUs; at most %(max)s.") % {"n": len(combos), "max": MAX_SKUS}
        )
    combinations = {spec_key(specs, dict(zip([d["name"] for d in specs], c, strict=True))): c for c in combos}
    cleaned: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _errors(skus=_("SKU %(n)s: send an object.") % {"n": i + 1})
        spec = row.get("spec") or {}
        if not isinstance(spec, dict):
            raise _errors(skus=_("SKU %(n)s: “spec” is an object of dimension → value.") % {"n": i + 1})
        values = {str(k): str(v) for k, v in spec.items()}
        if set(values) != {d["name"] for d in specs} or any(values[d["name"]] not in d["values"] for d in specs):
            raise _errors(skus=_("SKU %(n)s: give one value of each specification.") % {"n": i + 1})
        key = spec_key(specs, values)
        if key in cleaned:
            raise _errors(skus=_("SKU %(n)s repeats another SKU's specification.") % {"n": i + 1})
        stock = row.get("stock", 0)
        if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK:
            raise _errors(
                skus=_("SKU %(n)s: stock is a whole number from 0 to %(max)s.") % {"n": i + 1, "max": MAX_STOCK}
            )
        expected = row.get("stock_expected")
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
            raise _errors(skus=_("SKU %(n)s: stock_expected is the stock you last saw.") % {"n": i + 1})
        weight = row.get("weight_g", 0) or 0
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT_G:
            raise _errors(
                skus=_("SKU %(n)s: weight is whole grams from 0 to %(max)s.") % {"n": i + 1, "max": MAX_WEIGHT_G}
            )
        code = str(row.get("code") or "").strip()
        if len(code) > 40:
            raise _errors(skus=_("SKU %(n)s: code too long.") % {"n": i + 1})
        cleaned[key] = {
            "spec_values": {d["name"]: values[d["name"]] for d in specs},
            "price": _money(row.get("price"), "skus"),
            "list_price": _money(row.get("list_price"), "skus", required=False),
            "cost": _money(row.get("cost"), "skus", required=False),
            "stock": stock,
            "stock_expected": expected,
            "weight_g": weight,
            "code": code,
            "is_active": bool(row.get("is_active", True)),
        }
    missing = [" / ".join(c) for k, c in combinations.items() if k not in cleaned]
    if missing:
        raise _errors(skus=_("Give a price and stock for: %(list)s.") % {"list": ", ".join(missing[:10])})
    return cleaned


def _refresh_price_range(product: Product) -> None:
    prices = product.skus.filter(is_active=True).aggregate(low=Min("price"), high=Max("price"))
    product.min_price = prices["low"] or 0
    product.max_price = prices["high"] or 0
    product.save(update_fields=["min_price", "max_price", "updated_at"])


def product_save(tenant: Any, data: dict[str, Any], product: Product | None = None) -> Product:
    """Create or update a product with its SKUs. On update, SKUs whose specification still
    exists keep their id (orders point at them); removed ones are deactivated, not deleted."""
    errors: dict[str, list[Any]] = {}
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 120:
        errors["name"] = [_("Enter a name of at most 120 characters.")]
    subtitle = str(data.get("subtitle") or "").strip()
    if len(subtitle) > 200:
        errors["subtitle"] = [_("Use at most 200 characters.")]
    code = str(data.get("code") or "").strip()
    if len(code) > 40:
        errors["code"] = [_("Use at most 40 characters.")]
    category = None
    if data.get("category") not in (None, ""):
        category_pk = as_id(data["category"])
        category = Category.objects.filter(pk=category_pk).first() if category_pk else None
        if category is None:
            errors["category"] = [_("Choose an existing category.")]
    product_type = None
    if data.get("product_type") not in (None, ""):
        type_pk = as_id(data["product_type"])
        product_type = ProductType.objects.filter(pk=type_pk).first() if type_pk else None
        if product_type is None:
            errors["product_type"] = [_("Choose an existing product type.")]
    try:
        specs = clean_specs(data.get("specs"))
        rows = _clean_sku_rows(specs, data.get("skus"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
        specs, rows = [], {}
    try:
        attributes = clean_attribute_values(product_type, data.get("attributes") or {})
    except ValidationError as exc:
        errors.update(exc.message_dict)
        attributes = {}
    if errors:
        raise ValidationError(errors)
    creating = product is None
    try:
        with transaction.atomic():
            if creating:
                with connection.cursor() as cursor:  # two creates at the limit: one waits for the other
                    cursor.execute(LIMIT_LOCK_SQL)
                check_limit(tenant, "products")
                product = Product()
            assert product is not None
            product.name, product.subtitle, product.code = name, subtitle, code
            product.description = str(data.get("description") or "")
            product.category, product.product_type = category, product_type
            product.attributes, product.specs = attributes, specs
            product.save()
            existing = {s.spec_key: s for s in product.skus.select_for_update()} if not creating else {}
            stale: list[str] = []
            for key, values in rows.items():
                values = dict(values)
                stock, expected = values.pop("stock"), values.pop("stock_expected")
                sku = existing.pop(key, None)
                if sku is None:  # a new SKU starts with the stock given
                    Sku.objects.create(product=product, spec_key=key, stock=stock, **values)
                    continue
                for field, value in values.items():
                    setattr(sku, field, value)
                sku.save(update_fields=[*values.keys()])
                # Stock of an existing SKU moves only from the value the merchant saw: orders
                # take and return units meanwhile, and a blind write would undo them.
                if expected is not None and stock != expected:
                    if not Sku.objects.filter(pk=sku.pk, stock=expected).update(stock=stock):
                        stale.append(sku.label or _("Default"))
            if stale:
                raise _errors(
                    skus=_("Stock of %(list)s changed meanwhile (orders); reload and try again.")
                    % {"list": ", ".join(stale)}
                )
            for leftover in existing.values():
                leftover.is_active = False
                leftover.save(update_fields=["is_active"])
            _refresh_price_range(product)
            bump_catalogue_version()
    except IntegrityError as exc:
        text = str(exc)
        if "product_code" in text:
            raise _errors(code=_("Another product already has this code.")) from exc
        if "sku_code" in text:
            raise _errors(skus=_("Another SKU already has one of these codes.")) from exc
        raise
    return product


def product_set_status(products: list[Product], status: str) -> int:
    """Put products on or off sale (bulk). A product goes on sale only with an active SKU."""
    if status not in Product.Status.values:
        raise _errors(status=_("Unknown status."))
    changed = 0
    with transaction.atomic():
        for product in Product.objects.select_for_update().filter(pk__in=[p.pk for p in products]):
            if status == Product.Status.ON_SALE and not product.skus.filter(is_active=True).exists():
                raise _errors(status=_("“%(name)s” has no active SKU to sell.") % {"name": product.name})
            if product.status != status:
                product.status = status
                if status == Product.Status.ON_SALE and product.published_at is None:
                    product.published_at = timezone.now()
                product.save(update_fields=["status", "published_at", "updated_at"])
                changed += 1
        bump_catalogue_version()
    return changed


def sku_adjust_stock(sku: Sku, *, adjust: Any = None, stock: Any = None, expected: Any = None) -> Sku:
    """Change stock without undoing what orders took meanwhile: ``adjust`` by a delta (never
    below zero), or set ``stock`` only if it is still ``expected`` (what the merchant saw)."""

    def whole(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, int) and abs(value) <= MAX_STOCK

    if adjust is not None:
        if not whole(adjust):
            raise _errors(adjust=_("A whole number of units to add (or remove, if negative)."))
        done = Sku.objects.filter(pk=sku.pk, stock__gte=-adjust, stock__lte=MAX_STOCK - adjust).update(
            stock=F("stock") + adjust
        )
        if not done:
            raise _errors(adjust=_("Stock cannot go below zero."))
    elif stock is not None and expected is not None:
        if not whole(stock) or stock < 0 or not whole(expected):
            raise _errors(stock=_("Stock is a whole number from 0 to %(max)s.") % {"max": MAX_STOCK})
        if not Sku.objects.filter(pk=sku.pk, stock=expected).update(stock=stock):
            raise _errors(
                stock=_("Stock changed meanwhile; it is now %(n)s.") % {"n": Sku.objects.get(pk=sku.pk).stock}
            )
    else:
        raise _errors(stock=_("Send “adjust”, or “stock” with the “expected” value you saw."))
    sku.refresh_from_db(fields=["stock"])
    return sku


# --- images ---------------------------------------------------------------------------
def image_add(product: Product, upload: Any) -> ProductImage:
    """Check the upload (platform_core.images: content, size, pixels, frames, nothing but an
    image), then store it through the shop's storage under a random name."""
    if product.images.count() >= MAX_IMAGES:
        raise _errors(image=_("A product has at most %(n)s images.") % {"n": MAX_IMAGES})
    checked = images.checked_upload(upload, MAX_IMAGE_BYTES, "image", _("The image is larger than 5 MB."))
    name = f"{secrets.token_hex(8)}.{checked.ext}"
    with transaction.atomic():
        position = (product.images.aggregate(top=Max("position"))["top"] or 0) + 1
        image = ProductImage(
            product=product, bytes=len(checked.data), position=position, width=checked.width, height=checked.height
        )
        image.image.save(name, ContentFile(checked.data), save=False)
        image.save()
        bump_catalogue_version()
    return image


def image_delete(image: ProductImage) -> None:
    storage, name = image.image.storage, image.image.name
    image.delete()
    bump_catalogue_version()
    if name:
        transaction.on_commit(lambda: storage.delete(name), robust=True)
