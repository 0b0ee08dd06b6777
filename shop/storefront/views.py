"""Storefront pages (shop host). Every page renders through the shop's active theme
(``theming.render_page``); views only gather data and call services — prices, stock,
orders, payments and after-sales live in their own apps.

Pages work without JavaScript (plain forms and links, for WeChat's in-app browser and
old phones); the themes' small script only improves the spec picker."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.translation import gettext as _
from django.views import View

from platform_core.parsing import as_id
from platform_core.scoping import ShopScopedMixin
from shop.catalogue import selectors as catalogue
from shop.checkout import services as checkout
from shop.checkout.models import Cart, CartItem
from shop.checkout.receivers import GUEST_CART_COOKIE
from shop.members import selectors as member_selectors
from shop.members.auth import MemberRequiredMixin, current_member
from shop.members.views import form_errors
from shop.orders import services as order_services
from shop.storefront import drops
from shop.storefront.theming import render_page

PAGE_SIZE = 20
COOKIE_YEAR = 365 * 24 * 3600


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 10**9 else None


def _price(value: Any) -> int | None:
    """A price typed in yuan ("12.5") as fen; None when empty or not a number."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        yuan, _dot, fen = text.partition(".")
        if not yuan.isdigit() or (fen and (not fen.isdigit() or len(fen) > 2)):
            return None
        return int(yuan) * 100 + int((fen + "00")[:2])
    except ValueError:
        return None


class StorefrontPage(ShopScopedMixin, View):
    def page(self, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        return render_page(self.request, template, context, status=status)


def _decorated(slug: str, request: HttpRequest) -> dict[str, Any] | None:
    try:
        from shop.decoration.services import page_for_render
    except ImportError:  # decoration not installed
        return None
    from shop.storefront.theming import is_previewer

    draft = request.GET.get("preview") == "draft" and is_previewer(request)
    return page_for_render(slug, draft=draft)


def _product_list(request: HttpRequest, *, category: int | None = None, q: str = "") -> dict[str, Any]:
    sort = request.GET.get("sort", "newest")
    sort = sort if sort in catalogue.SORTS else "newest"
    min_price, max_price = _price(request.GET.get("min")), _price(request.GET.get("max"))
    products = catalogue.storefront_products(
        q=q, category=category, min_price=min_price, max_price=max_price, sort=sort
    )
    paginator = Paginator(products, PAGE_SIZE)
    number = _int(request.GET.get("page")) or 1
    page = paginator.get_page(number)
    base = {k: v for k, v in request.GET.items() if k != "page"}
    from urllib.parse import urlencode

    def link(n: int) -> str:
        return "?" + urlencode({**base, "page": n})

    return {
        "products": drops.product_cards(page.object_list),
        "sort": sort,
        "sorts": [{"key": k, "label": drops.SORT_LABELS[k]()} for k in catalogue.SORTS],
        "min": request.GET.get("min", ""),
        "max": request.GET.get("max", ""),
        "paginate": {
            "page": page.number,
            "pages": paginator.num_pages,
            "count": paginator.count,
            "previous": link(page.number - 1) if page.has_previous() else "",
            "next": link(page.number + 1) if page.has_next() else "",
        },
    }


def _page_version(slug: str) -> int | None:
    from shop.decoration.models import Page

    return Page.objects.filter(slug=slug).values_list("version", flat=True).first()


def _home_context(request: HttpRequest) -> dict[str, Any]:
    page = _decorated("home", request)
    if page is None or not page.get("blocks"):
        newest = list(catalogue.storefront_products(sort="newest")[:12])
        page = {
            "slug": "home",
            "title": "",
            "undecorated": True,
            "no_products": not newest,
            "blocks": [
                {
                    "id": "default-grid",
                    "type": "product_grid",
                    "config": {"title": "", "columns": None, "source": "newest", "limit": 12},
                    "data": {"products": drops.product_cards(newest)},
                },
            ]
            if newest
            else [],
        }
    return {"page": drops.reprice_blocks(page), "categories": drops.category_nodes(catalogue.category_tree())}


class Home(StorefrontPage):
    """The decorated home page. Its body (blocks, products) is the same for every visitor:
    rendered once per page version, catalogue version and theme revision, then cached."""

    def get(self, request: HttpRequest) -> HttpResponse:
        group = as_id(request.GET.get("group"))
        if group:  # a group-buy share link (``/?group=<id>``) opens the group
            query = request.GET.copy()
            query.pop("group")
            return HttpResponseRedirect(f"/groups/{group}/" + (f"?{query.urlencode()}" if query else ""))
        from shop.marketing.selectors import running_signature

        # the prices shown change when an activity starts or ends
        key = ("home", _page_version("home"), catalogue.catalogue_version(), running_signature())
        return render_page(request, "templates/index", lambda: _home_context(request), body_key=key)


class CustomPage(StorefrontPage):
    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        if slug == "home":
            raise Http404
        version = _page_version(slug)
        preview = request.GET.get("preview") == "draft"
        if version is None or (not version and not preview):
            raise Http404
        page = _decorated(slug, request)
        if page is None:
            raise Http404
        from shop.marketing.selectors import running_signature

        key = ("page", slug, version, catalogue.catalogue_version(), running_signature())
        context = {"page": drops.reprice_blocks(page), "page_title": page.get("title")}
        return render_page(request, "templates/page", context, body_key=key)


class Categories(StorefrontPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page("templates/categories", {"categories": drops.category_nodes(catalogue.category_tree())})


class ProductList(StorefrontPage):
    """All products, one category (``?category=``, with its subcategories) or a search
    (``?q=``), sorted and filtered by price, a page at a time."""

    def get(self, request: HttpRequest) -> HttpResponse:
        q = request.GET.get("q", "").strip()[:60]
        tree = catalogue.category_tree()
        category_id = _int(request.GET.get("category")) if request.GET.get("category") else None
        found = _find(tree, category_id) if category_id is not None else None
        if category_id is not None and found is None:
            raise Http404
        context = _product_list(request, category=category_id, q=q)
        context.update({"q": q, "categories": drops.category_nodes(tree)})
        if found is not None:
            context["collection"] = {"id": category_id, "name": found["name"], "url": drops.category_url(found["id"])}
            context["subcategories"] = drops.category_nodes(found["children"])
            context["page_title"] = found["name"]
        return self.page("templates/search" if q else "templates/collection", context)


class CategoryRedirect(StorefrontPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        if _find(catalogue.category_tree(), pk) is None:
            raise Http404
        return HttpResponseRedirect(drops.category_url(pk))


def _find(tree: list[dict[str, Any]], pk: int | None) -> dict[str, Any] | None:
    for node in tree:
        if node["id"] == pk:
            return node
        found = _find(node["children"], pk)
        if found:
            return found
    return None


class ProductPage(StorefrontPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        product = catalogue.storefront_product(pk)
        if product is None:
            raise Http404
        from shop.marketing.selectors import product_offers

        offers = {row["sku"]: row for row in product_offers(product)}
        share = drops.product_share(current_member(request), product, **_share_origin(request))
        detail = drops.product_detail(product, offers)
        from shop.storefront.groups import group_deals_for

        detail["group_deals"] = group_deals_for(product)
        from shop.storefront.coupon_offers import product_coupons

        context = {
            "product": detail,
            "page_title": product.name,
            "share": share,
            "coupons": product_coupons(current_member(request), product),
            "next": request.path,
        }
        return self.page("templates/product", context)


def _share_origin(request: HttpRequest) -> dict[str, str]:
    """Where share links point: this shop's host, as the visitor reached it."""
    return {"host": request.get_host(), "scheme": request.scheme or "https"}


# --- cart -----------------------------------------------------------------------------------
def _cart(request: HttpRequest, *, create: bool) -> Any:
    member = current_member(request)
    if member is not None:
        return checkout.cart_for_member(member)
    token = request.COOKIES.get(GUEST_CART_COOKIE)
    if not token and not create:
        return None
    if create:
        return checkout.cart_for_guest(token)
    return Cart.objects.filter(guest_token=token, member__isnull=True).first()


def cart_count(request: HttpRequest) -> int:
    """Units in this visitor's cart (the header badge); no cart is made for it."""
    member = current_member(request)
    if member is not None:
        items = CartItem.objects.filter(cart__member=member)
    else:
        token = request.COOKIES.get(GUEST_CART_COOKIE)
        if not token:
            return 0
        items = CartItem.objects.filter(cart__guest_token=token, cart__member__isnull=True)
    return int(items.aggregate(n=Sum("quantity"))["n"] or 0)


def _with_cart_cookie(response: HttpResponse, request: HttpRequest, cart: Any) -> HttpResponse:
    if cart is not None and cart.guest_token and request.COOKIES.get(GUEST_CART_COOKIE) != cart.guest_token:
        response.set_cookie(GUEST_CART_COOKIE, cart.guest_token, max_age=COOKIE_YEAR, httponly=True, samesite="Lax")
    return response


def _cart_lines(cart: Any, found: Any) -> list[dict[str, Any]]:
    """The cart's lines at what they cost now (a running offer's price); ``was`` only when
    that differs from the price the buyer saw when adding the item (up or down)."""
    by_sku = {p.sku_id: p for p in found.priced.lines}
    now_prices = {line.sku.pk: line.price_now for line in found.lines if line.price_now is not None}
    items = {i.sku_id: i for i in cart.items.select_related("sku__product").prefetch_related("sku__product__images")}
    rows = []
    for sku_id, item in items.items():
        priced = by_sku.get(sku_id)
        card = drops.product_card(item.sku.product)
        unit = now_prices.get(sku_id, item.sku.price)
        seen = item.price_when_added
        rows.append(
            {
                "item": item.pk,
                "sku": sku_id,
                "name": item.sku.product.name,
                "label": item.sku.label,
                "image": card["image"],
                "url": card["url"],
                "quantity": item.quantity,
                "unit_price": unit,
                "list_price": item.sku.price if unit < item.sku.price else None,
                "was": seen if seen is not None and seen != unit else None,
                "moved": ("up" if unit > seen else "down") if seen is not None and seen != unit else "",
                "subtotal": priced.subtotal if priced else 0,
                "amount": priced.amount_paid if priced else 0,
                "available": priced is not None,
                "stock": max(item.sku.stock, 0),
            }
        )
    return rows


class CartPage(StorefrontPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        cart = _cart(request, create=False)
        context: dict[str, Any] = {"lines": [], "quote": None, "errors": {}}
        if cart is not None and cart.items.exists():
            found = checkout.cart_quote(cart, fulfilment="pickup", member=current_member(request))
            context["lines"] = _cart_lines(cart, found)
            context["quote"] = drops.quote_data(found)
            from shop.storefront.coupon_offers import cart_coupons

            products = [item.sku.product for item in cart.items.select_related("sku__product")]
            context["coupons"] = cart_coupons(current_member(request), products)
            context["next"] = "/cart/"
        return self.page("templates/cart", context)


class CartAdd(StorefrontPage):
    def post(self, request: HttpRequest) -> HttpResponse:
        cart = _cart(request, create=True)
        quantity = _int(request.POST.get("quantity", "1"))
        try:
            checkout.cart_add(cart, request.POST.get("sku"), quantity if quantity is not None else -1)
        except ValidationError as exc:
            product = catalogue.storefront_product(_int(request.POST.get("product")) or 0)
            if product is None:
                raise Http404 from None
            response = self.page(
                "templates/product",
                {"product": drops.product_detail(product), "errors": drops.errors_data(form_errors(exc))},
                status=400,
            )
            return _with_cart_cookie(response, request, cart)
        target = "/checkout/" if request.POST.get("buy_now") else "/cart/"
        return _with_cart_cookie(HttpResponseRedirect(target), request, cart)


class CartItemUpdate(StorefrontPage):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        cart = _cart(request, create=False)
        if cart is None or not CartItem.objects.filter(cart=cart, pk=pk).exists():
            raise Http404
        quantity = 0 if request.POST.get("remove") else _int(request.POST.get("quantity"))
        try:
            checkout.cart_set_quantity(cart, pk, quantity if quantity is not None else -1)
        except ValidationError as exc:
            found = checkout.cart_quote(cart, fulfilment="pickup", member=current_member(request))
            return self.page(
                "templates/cart",
                {
                    "lines": _cart_lines(cart, found),
                    "quote": drops.quote_data(found),
                    "errors": drops.errors_data(form_errors(exc)),
                },
                status=400,
            )
        return HttpResponseRedirect("/cart/")


# --- checkout --------------------------------------------------------------------------------
class Checkout(MemberRequiredMixin, StorefrontPage):
    def _context(self, request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
        member = self.member
        cart = checkout.cart_for_member(member)
        addresses = list(member_selectors.address_list(member))
        default = next((a for a in addresses if a.is_default), addresses[0] if addresses else None)
        fulfilment = data.get("fulfilment") or ("delivery" if addresses else "pickup")
        address_id = as_id(data.get("address")) or (default.pk if default else None)
        address = next((a for a in addresses if a.pk == address_id), None)
        from shop.stores.models import Store

        stores = list(Store.objects.filter(is_active=True, pickup_enabled=True).order_by("name"))
        store_id = as_id(data.get("store")) or (stores[0].pk if stores else None)
        coupon = data.get("coupon") or None
        try:
            found = checkout.cart_quote(
                cart,
                fulfilment=fulfilment,
                province=address.province if (address and fulfilment == "delivery") else None,
                member=member,
                coupon=coupon,
            )
        except ValidationError as exc:
            found = checkout.cart_quote(cart, fulfilment=fulfilment, member=member)
            self.quote_errors = form_errors(exc)
        from shop.storefront.coupon_offers import checkout_choices as coupon_choices

        payable_without = (
            found.payable
            if not coupon or getattr(self, "quote_errors", None)
            else checkout.cart_quote(
                cart,
                fulfilment=fulfilment,
                province=address.province if (address and fulfilment == "delivery") else None,
                member=member,
            ).payable
        )
        return {
            "lines": _cart_lines(cart, found),
            "quote": drops.quote_data(found),
            "fulfilment": fulfilment,
            "addresses": [
                {"id": a.pk, "text": a.one_line, "recipient": a.recipient, "phone": a.phone, "default": a.is_default}
                for a in addresses
            ],
            "address": address_id,
            "stores": [{"id": s.pk, "name": s.name, "address": f"{s.city}{s.district}{s.address}"} for s in stores],
            "store": store_id,
            "coupons": coupon_choices(
                member,
                cart,
                fulfilment=fulfilment,
                province=address.province if (address and fulfilment == "delivery") else None,
                payable_without=payable_without,
            ),
            "coupon": as_id(coupon) or "",
            "note": data.get("note", ""),
            "idempotency_key": data.get("idempotency_key") or secrets.token_urlsafe(18),
            "add_address_url": "/account/addresses/new/?next=/checkout/",
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        if not checkout.cart_for_member(self.member).items.exists():
            return HttpResponseRedirect("/cart/")
        data = dict(request.GET.items())
        context = self._context(request, data)
        context["errors"] = drops.errors_data(getattr(self, "quote_errors", {}))
        return self.page("templates/checkout", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        data = {
            k: request.POST.get(k, "") for k in ("fulfilment", "address", "store", "note", "coupon", "idempotency_key")
        }
        if request.POST.get("refresh") or (
            "quoted_coupon" in request.POST and as_id(request.POST["quoted_coupon"]) != as_id(data["coupon"])
        ):  # recalculating, or a coupon chosen since the total was shown: show the new total first
            context = self._context(request, data)
            context["errors"] = drops.errors_data(getattr(self, "quote_errors", {}))
            return self.page("templates/checkout", context)
        cart = checkout.cart_for_member(self.member)
        items = [(i.sku_id, i.quantity, i.price_when_added) for i in cart.items.all()]
        placed = _already_placed(self.member, data["idempotency_key"])
        if placed is not None:  # a second tap after the first order emptied the cart
            return HttpResponseRedirect(f"/account/orders/{placed}/pay/")
        expected = _int(request.POST.get("expected_payable"))
        try:
            order = order_services.order_create(
                self.member,
                items=items,
                fulfilment=data["fulfilment"],
                address_id=data["address"] or None,
                store_id=data["store"] or None,
                note=data["note"],
                expected_payable=expected,
                idempotency_key=data["idempotency_key"] or None,
                coupon=data["coupon"] or None,
            )
        except order_services.OrderRefused as exc:
            context = self._context(request, data)
            context["errors"] = {"general": [str(exc.message)]}
            context["refused"] = {
                "code": exc.code,
                "details": drops.refusal_details(exc.details),
                **drops.payable_move(expected, context["quote"]["payable"]),
            }
            context["idempotency_key"] = secrets.token_urlsafe(18)
            return self.page("templates/checkout", context, status=409)
        except ValidationError as exc:
            context = self._context(request, data)
            context["errors"] = drops.errors_data(form_errors(exc))
            return self.page("templates/checkout", context, status=400)
        checkout.cart_clear_skus(cart, [line.sku_id for line in order.lines.all()])
        return HttpResponseRedirect(f"/account/orders/{order.pk}/pay/")


def _already_placed(member: Any, key: str) -> int | None:
    if not key:
        return None
    from shop.orders.models import IdempotencyKey

    found = (
        IdempotencyKey.objects.filter(member=member, scope="order_create", key=key, order__isnull=False)
        .values_list("order_id", flat=True)
        .first()
    )
    return int(found) if found else None


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 on a shop host: JSON for the API, the theme's page for shoppers."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public" or request.path.startswith("/console/"):
        from django.views.defaults import page_not_found

        return page_not_found(request, exception or Http404())
    return render_page(request, "templates/404", {}, status=404)
