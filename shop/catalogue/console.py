"""Merchant console pages for the catalogue: product list (search, status filter, bulk on
and off sale), product form (specifications → a grid of SKUs with price and stock),
categories."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _

from platform_core.features import LimitReached, feature_value
from platform_core.scoping import ConsoleView
from shop.catalogue import selectors, services
from shop.catalogue.models import Category, Product


def parse_yuan(raw: str) -> int | None:
    """ "99.9" → 9990 fen, exactly (no floats); None if not a valid amount."""
    raw = (raw or "").strip().replace(",", "")
    if not raw:
        return None
    whole, _sep, frac = raw.partition(".")
    if not raw.isascii() or not whole.isdigit() or len(whole) > 7 or (frac and (not frac.isdigit() or len(frac) > 2)):
        return None
    return int(whole) * 100 + int((frac + "00")[:2])


def whole_number(raw: str, maximum: int = 10_000_000) -> int | None:
    """An ASCII whole number within bounds, else None (no surprises from "²" or "1e9")."""
    raw = (raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        return None
    value = int(raw)
    return value if value <= maximum else None


def yuan(fen: int | None) -> str:
    return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"


class ProductList(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        products = Product.objects.prefetch_related("skus").order_by("-id")
        status, q = request.GET.get("status", ""), request.GET.get("q", "").strip()
        if status in Product.Status.values:
            products = products.filter(status=status)
        if q:
            products = products.filter(name__icontains=q)
        return self.render(
            "catalogue/console/products.html",
            {
                "products": products[:200],
                "status": status,
                "q": q,
                "statuses": Product.Status.choices,
                "used": selectors.count_products(),
                "limit": feature_value(self.shop, "products"),
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        ids = [n for n in (whole_number(i, 2**31 - 1) for i in request.POST.getlist("ids")) if n is not None]
        products = list(Product.objects.filter(pk__in=ids))
        try:
            changed = services.product_set_status(products, request.POST.get("status", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("%(n)s products updated.") % {"n": changed})
        return HttpResponseRedirect(reverse("catalogue-console:products"))


def _spec_lines(specs: list[dict[str, Any]]) -> str:
    return "\n".join(f"{d['name']}: {', '.join(d['values'])}" for d in specs)


def _parse_spec_lines(text: str) -> list[dict[str, Any]]:
    specs = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, _sep, values = line.replace("：", ":").partition(":")
        specs.append(
            {"name": name.strip(), "values": [v.strip() for v in values.replace("，", ",").split(",") if v.strip()]}
        )
    return specs


class ProductForm(ConsoleView):
    """One page: details, specification lines, and the SKU grid they generate. Changing
    the lines and pressing "Update grid" re-renders the grid keeping what was typed."""

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        product = get_object_or_404(Product, pk=pk) if pk else None
        data: dict[str, Any] = {
            "name": "",
            "subtitle": "",
            "description": "",
            "code": "",
            "category": "",
            "spec_lines": "",
        }
        rows: dict[str, dict[str, Any]] = {}
        if product is not None:
            data.update(
                name=product.name,
                subtitle=product.subtitle,
                description=product.description,
                code=product.code,
                category=product.category_id or "",
                spec_lines=_spec_lines(product.specs),
            )
            for sku in product.skus.filter(is_active=True):
                rows[sku.spec_key] = {
                    "price": yuan(sku.price),
                    "stock": sku.stock,
                    "stock_seen": sku.stock,
                    "code": sku.code,
                    "list_price": yuan(sku.list_price),
                }
        return self._page(product, data, rows, {})

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        product = get_object_or_404(Product, pk=pk) if pk else None
        post = request.POST
        data = {k: post.get(k, "") for k in ("name", "subtitle", "description", "code", "category", "spec_lines")}
        specs = _parse_spec_lines(data["spec_lines"])
        rows = {
            key: {f: post.get(f"{f}-{key}", "") for f in ("price", "stock", "stock_seen", "code", "list_price")}
            for key in self._keys(specs)
        }
        if "refresh" in post:
            return self._page(product, data, rows, {})
        errors: dict[str, list[str]] = {}
        skus = []
        for key, row in rows.items():
            price, list_price = parse_yuan(row["price"]), parse_yuan(row["list_price"])
            stock = whole_number(row["stock"])
            seen = whole_number(row["stock_seen"])
            if price is None or stock is None or (row["list_price"] and list_price is None):
                errors.setdefault("skus", []).append(
                    _("%(sku)s: enter a price like 99.90 and a whole stock number.")
                    % {"sku": key.replace("|", " / ") or _("Default")}
                )
                continue
            values = dict(part.split("=", 1) for part in key.split("|")) if key else {}
            skus.append(
                {
                    "spec": values,
                    "price": price,
                    "stock": stock,
                    "stock_expected": seen,
                    "code": row["code"],
                    "list_price": list_price,
                }
            )
        if errors:
            return self._page(product, data, rows, errors, status=400)
        payload = {
            **{k: data[k] for k in ("name", "subtitle", "description", "code")},
            "category": data["category"] or None,
            "specs": specs,
            "skus": skus,
        }
        try:
            saved = services.product_save(self.shop, payload, product=product)
        except LimitReached as exc:
            return self._page(product, data, rows, {"limit": [str(exc.message)]}, status=403)
        except ValidationError as exc:
            return self._page(
                product, data, rows, {f: [str(m) for m in msgs] for f, msgs in exc.message_dict.items()}, status=400
            )
        messages.success(request, _("Saved “%(name)s”.") % {"name": saved.name})
        return HttpResponseRedirect(reverse("catalogue-console:products"))

    @staticmethod
    def _keys(specs: list[dict[str, Any]]) -> list[str]:
        try:
            cleaned = services.clean_specs(specs)
        except ValidationError:
            return []
        if not cleaned:
            return [""]
        names = [d["name"] for d in cleaned]
        combos = itertools.product(*[d["values"] for d in cleaned])
        return [
            services.spec_key(cleaned, dict(zip(names, c, strict=True)))
            for c in itertools.islice(combos, services.MAX_SKUS)
        ]

    def _page(
        self,
        product: Product | None,
        data: dict[str, Any],
        rows: dict[str, dict[str, Any]],
        errors: dict[str, list[str]],
        status: int = 200,
    ) -> HttpResponse:
        specs = _parse_spec_lines(data["spec_lines"])
        try:
            services.clean_specs(specs)
        except ValidationError as exc:
            errors = {**errors, "specs": exc.messages}
        grid = [
            {"key": key, "label": key.replace("|", " / ").replace("=", ": ") or _("Default"), **rows.get(key, {})}
            for key in self._keys(specs)
        ]
        return self.render(
            "catalogue/console/product_form.html",
            {"product": product, "data": data, "grid": grid, "errors": errors, "categories": Category.objects.all()},
            status=status,
        )
