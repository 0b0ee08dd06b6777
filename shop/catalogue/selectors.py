"""Reads of the catalogue."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet

from shop.catalogue.models import Category, Product, ProductImage, Sku

SORTS = {
    "newest": ("-published_at", "-id"),
    "sales": ("-sales_count", "-id"),
    "price_asc": ("min_price", "id"),
    "price_desc": ("-max_price", "-id"),
}


VERSION_KEY = "catalogue:version"


def catalogue_version() -> str:
    """A token that changes on every catalogue write (cache keys carry the shop's schema)."""
    version = cache.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        cache.add(VERSION_KEY, version, None)
        version = cache.get(VERSION_KEY, version)
    return str(version)


def bump_catalogue_version() -> None:
    """After commit, the next read makes a new version (a delete: when the cache is down, the
    resilient cache repeats it once the cache answers again, so no stale entry survives)."""
    transaction.on_commit(lambda: cache.delete(VERSION_KEY), robust=True)


def count_products() -> int:
    """What the tier's product limit counts (all products, drafts included)."""
    return Product.objects.count()


def category_and_descendants(category_id: int) -> list[int]:
    ids, frontier = [category_id], [category_id]
    while frontier:
        frontier = list(Category.objects.filter(parent_id__in=frontier).values_list("id", flat=True))
        ids.extend(frontier)
    return ids


def category_tree() -> list[dict[str, Any]]:
    """Visible categories as nested nodes ``{"id", "name", "children": [...]}``."""
    categories = list(Category.objects.filter(is_active=True))
    nodes: dict[int, dict[str, Any]] = {c.id: {"id": c.id, "name": c.name, "children": []} for c in categories}
    roots: list[dict[str, Any]] = []
    for category in categories:
        parent = nodes.get(category.parent_id) if category.parent_id else None
        (parent["children"] if parent else roots).append(nodes[category.id])
    return roots


def storefront_products(
    *,
    q: str = "",
    category: int | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    sort: str = "newest",
) -> QuerySet[Product]:
    products = Product.objects.filter(status=Product.Status.ON_SALE)
    if q:
        term = q.strip()
        products = products.filter(
            Q(name__icontains=term) | Q(code__iexact=term) | Q(skus__code__iexact=term)
        ).distinct()
    if category is not None:
        products = products.filter(category_id__in=category_and_descendants(category))
    if min_price is not None:
        products = products.filter(max_price__gte=min_price)
    if max_price is not None:
        products = products.filter(min_price__lte=max_price)
    return products.order_by(*SORTS.get(sort, SORTS["newest"])).prefetch_related(
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "id"))
    )


def storefront_product(pk: int) -> Product | None:
    return (
        Product.objects.filter(pk=pk, status=Product.Status.ON_SALE)
        .prefetch_related(
            Prefetch("skus", queryset=Sku.objects.filter(is_active=True)),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
        )
        .select_related("category", "product_type")
        .first()
    )
