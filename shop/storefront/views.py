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
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views import View

from platform_core.parsing import as_id
from platform_core.scoping import ShopScopedMixin
from shop.aftersales import selectors as aftersale_selectors
from shop.aftersales import services as aftersale_services
from shop.catalogue import selectors as catalogue
from shop.checkout import services as checkout
from shop.checkout.models import Cart, CartItem
from shop.checkout.receivers import GUEST_CART_COOKIE
from shop.members import selectors as member_selectors
from shop.members.auth import MemberRequiredMixin, current_member
from shop.members.views import form_errors
from shop.orders import services as order_services
from shop.orders.models import Order
from shop.payments import services as payment_services
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
        "products": [drops.product_card(p) for p in page.object_list],
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
                    "data": {"products": [drops.product_card(p) for p in newest]},
                },
            ]
            if newest
            else [],
        }
    return {"page": page, "categories": drops.category_nodes(catalogue.category_tree())}


class Home(StorefrontPage):
    """The decorated home page. Its body (blocks, products) is the same for every visitor:
    rendered once per page version, catalogue version and theme revision, then cached."""

    def get(self, request: HttpRequest) -> HttpResponse:
        group = as_id(request.GET.get("group"))
        if group:  # a group-buy share link (``/?group=<id>``) opens the group
            query = request.GET.copy()
            query.pop("group")
            return HttpResponseRedirect(f"/groups/{group}/" + (f"?{query.urlencode()}" if query else ""))
        key = ("home", _page_version("home"), catalogue.catalogue_version())
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
        key = ("page", slug, version, catalogue.catalogue_version())
        return render_page(request, "templates/page", {"page": page, "page_title": page.get("title")}, body_key=key)


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
        detail["group_deals"] = group_deals_for(product)
        return self.page("templates/product", {"product": detail, "page_title": product.name, "share": share})


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
    by_sku = {p.sku_id: p for p in found.priced.lines}
    items = {i.sku_id: i for i in cart.items.select_related("sku__product").prefetch_related("sku__product__images")}
    rows = []
    for sku_id, item in items.items():
        priced = by_sku.get(sku_id)
        card = drops.product_card(item.sku.product)
        rows.append(
            {
                "item": item.pk,
                "sku": sku_id,
                "name": item.sku.product.name,
                "label": item.sku.label,
                "image": card["image"],
                "url": card["url"],
                "quantity": item.quantity,
                "unit_price": item.sku.price,
                "was": item.price_when_added if item.price_when_added != item.sku.price else None,
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
            "coupons": _usable_coupons(member, cart),
            "coupon": coupon or "",
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
        if request.POST.get("refresh"):
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
            context["refused"] = {"code": exc.code, "details": drops.refusal_details(exc.details)}
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


def _usable_coupons(member: Any, cart: Any) -> list[dict[str, Any]]:
    """The member's unused coupons valid now, for the checkout's coupon picker (whether
    one applies to this cart is the quote's answer once chosen)."""
    from django.utils import timezone

    from shop.marketing import selectors as marketing
    from shop.marketing.models import MemberCoupon

    now = timezone.now()
    rows = []
    for coupon in marketing.member_coupons(member, MemberCoupon.Status.UNUSED, now).select_related("template")[:50]:
        if coupon.valid_from is not None and coupon.valid_from > now:
            continue
        rows.append({"id": str(coupon.pk), "name": coupon.template.name, "label": coupon.template.name})
    return rows


# --- orders, payment, after-sales ---------------------------------------------------------------
class MemberStorefrontPage(MemberRequiredMixin, StorefrontPage):
    def order(self, pk: int) -> Order:
        return get_object_or_404(Order.objects.prefetch_related("lines", "log"), pk=pk, member=self.member)


class OrderList(MemberStorefrontPage):
    FILTERS = ("unpaid", "paid", "shipped", "completed", "cancelled")

    def get(self, request: HttpRequest) -> HttpResponse:
        orders = Order.objects.filter(member=self.member).prefetch_related("lines").order_by("-created_at")
        wanted = request.GET.get("status", "")
        if wanted in self.FILTERS:
            orders = orders.filter(status=wanted)
        page = Paginator(orders, PAGE_SIZE).get_page(_int(request.GET.get("page")) or 1)
        return self.page(
            "templates/orders",
            {
                "orders": [drops.order_data(o) for o in page.object_list],
                "status": wanted,
                "filters": [{"key": k, "label": drops.ORDER_FILTER_LABELS[k]()} for k in self.FILTERS],
                "paginate": {"page": page.number, "pages": page.paginator.num_pages},
            },
        )


class OrderDetail(MemberStorefrontPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        aftersales = aftersale_selectors.for_member(self.member).filter(order=order)
        return self.page(
            "templates/order",
            {
                "order": drops.order_data(order, with_log=True),
                "aftersales": [drops.aftersale_data(a) for a in aftersales],
            },
        )


class OrderAction(MemberStorefrontPage):
    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        order = self.order(pk)
        actor = f"member:{self.member.pk}"
        try:
            if action == "cancel":
                order_services.order_cancel(order, actor=actor, reason="cancelled by the buyer")
            elif action == "confirm":
                order_services.order_confirm_delivery(order, actor=actor)
            else:
                raise Http404
        except order_services.TransitionRefused:
            return self.page(
                "templates/order",
                {
                    "order": drops.order_data(self.order(pk), with_log=True),
                    "aftersales": [],
                    "errors": {"general": [_("This order has moved on; nothing was changed.")]},
                },
                status=409,
            )
        return HttpResponseRedirect(f"/account/orders/{pk}/")


class PayPage(MemberStorefrontPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        if order.status != Order.Status.UNPAID:
            return HttpResponseRedirect(f"/account/orders/{pk}/")
        return self.page(
            "templates/payment", {"order": drops.order_data(order), "methods": drops.payment_methods(order)}
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        provider = request.POST.get("provider", "")
        try:
            started = payment_services.payment_start(order, provider, actor=f"member:{self.member.pk}")
        except ValidationError as exc:
            if order.status != Order.Status.UNPAID:
                return HttpResponseRedirect(f"/account/orders/{pk}/")
            return self.page(
                "templates/payment",
                {
                    "order": drops.order_data(order),
                    "methods": drops.payment_methods(order),
                    "errors": drops.errors_data(form_errors(exc)),
                },
                status=400,
            )
        except payment_services.PaymentError as exc:
            return self.page(
                "templates/payment",
                {
                    "order": drops.order_data(order),
                    "methods": drops.payment_methods(order),
                    "errors": {"general": [str(exc.message)]},
                },
                status=503,
            )
        if started.get("provider") == "balance":  # paid there and then
            return HttpResponseRedirect(f"/account/orders/{pk}/")
        return self.page(
            "templates/payment",
            {
                "order": drops.order_data(order),
                "methods": drops.payment_methods(order),
                "started": drops.started_payment(started),
            },
        )


class AfterSaleNew(MemberStorefrontPage):
    def _context(self, order: Order, data: dict[str, Any]) -> dict[str, Any]:
        claimed = aftersale_selectors.claimed_by_line(order)
        lines = []
        for line in order.lines.all():
            left = line.quantity - claimed.get(line.pk, (0, 0))[0]
            lines.append(
                {
                    "id": line.pk,
                    "name": line.product_name,
                    "label": line.sku_label,
                    "left": left,
                    "amount_paid": line.amount_paid,
                }
            )
        return {
            "order": drops.order_data(order),
            "lines": lines,
            "reasons": [{"id": r.pk, "name": r.name} for r in aftersale_selectors.reasons(active_only=True)],
            "shipped": order.status in ("shipped", "delivered", "picked_up", "completed"),
            "data": {k: v for k, v in data.items() if isinstance(v, str)},
        }

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page("templates/aftersale-new", self._context(self.order(pk), {}))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = self.order(pk)
        wanted = []
        for line in order.lines.all():
            quantity = _int(request.POST.get(f"line_{line.pk}", "0")) or 0
            if quantity:
                wanted.append({"line": line.pk, "quantity": quantity})
        data = {
            "kind": request.POST.get("kind", ""),
            "reason": request.POST.get("reason", ""),
            "note": request.POST.get("note", ""),
            "lines": wanted,
        }
        try:
            aftersale = aftersale_services.aftersale_request(self.member, order, data)
        except ValidationError as exc:
            context = self._context(order, {k: request.POST.get(k, "") for k in ("kind", "reason", "note")})
            context["errors"] = drops.errors_data(form_errors(exc))
            return self.page("templates/aftersale-new", context, status=400)
        return HttpResponseRedirect(f"/account/aftersales/{aftersale.pk}/")


class AfterSaleList(MemberStorefrontPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        rows = aftersale_selectors.for_member(self.member).prefetch_related("lines__order_line")[:100]
        return self.page("templates/aftersales", {"aftersales": [drops.aftersale_data(a) for a in rows]})


class AfterSaleDetail(MemberStorefrontPage):
    def aftersale(self, pk: int) -> Any:
        return get_object_or_404(
            aftersale_selectors.for_member(self.member).prefetch_related("lines__order_line"), pk=pk
        )

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page("templates/aftersale", {"aftersale": drops.aftersale_data(self.aftersale(pk))})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        aftersale = self.aftersale(pk)
        try:
            if request.POST.get("action") == "cancel":
                aftersale_services.aftersale_cancel(aftersale, member=self.member)
            else:
                aftersale_services.aftersale_ship_return(
                    aftersale,
                    member=self.member,
                    carrier=request.POST.get("carrier", ""),
                    tracking_number=request.POST.get("tracking_number", ""),
                )
        except ValidationError as exc:
            return self.page(
                "templates/aftersale",
                {
                    "aftersale": drops.aftersale_data(self.aftersale(pk)),
                    "errors": drops.errors_data(form_errors(exc)),
                    "data": {k: request.POST.get(k, "") for k in ("carrier", "tracking_number")},
                },
                status=400,
            )
        return HttpResponseRedirect(f"/account/aftersales/{pk}/")


class DistributorCentre(MemberStorefrontPage):
    """The distributor centre; its forms (apply, withdraw) post to the distribution
    engine's storefront views, which answer bad input on this same page
    (``centre_page``)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.centre_page({})

    def centre_page(self, extra: dict[str, Any], status: int = 200) -> HttpResponse:
        summary = drops.distributor_summary(self.member, **_share_origin(self.request))
        return self.page("templates/distributor", {"distributor": summary, **extra}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 on a shop host: JSON for the API, the theme's page for shoppers."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public" or request.path.startswith("/console/"):
        from django.views.defaults import page_not_found

        return page_not_found(request, exception or Http404())
    return render_page(request, "templates/404", {}, status=404)


# --- group buying (拼团) ------------------------------------------------------------------------
def group_deals_for(product: Any) -> list[dict[str, Any]]:
    """The running group deals that sell one of ``product``'s SKUs, with its open groups a
    shopper can join right away."""
    from shop.marketing import groups
    from shop.marketing.models import GroupDealItem

    items = GroupDealItem.objects.filter(
        deal__in=groups.running_deals(), sku__product=product, sku__is_active=True
    ).select_related("deal", "sku")
    rows = []
    for item in items:
        open_groups = [groups.group_row(g) for g in groups.joinable_groups(item.deal)[:3]]
        rows.append(
            {
                "deal": item.deal_id,
                "name": item.deal.name,
                "size": item.deal.size,
                "hours": item.deal.hours,
                "sku": item.sku_id,
                "label": item.sku.label,
                "price": item.sku.price,
                "group_price": item.price,
                "open_url": f"/group-buy/{item.deal_id}/?sku={item.sku_id}",
                "groups": [{**g, "url": f"/groups/{g['id']}/"} for g in open_groups],
            }
        )
    return rows


class GroupPage(StorefrontPage):
    """A group as its share link shows it: who is in, places left, time left, and a Join
    button (or, when it is full or over, the way to open a new one)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from shop.marketing import groups
        from shop.marketing.models import Group

        group = get_object_or_404(
            Group.objects.select_related("deal", "leader").prefetch_related("members__member", "deal__items__sku"),
            pk=pk,
        )
        row = groups.group_row(group)
        item = group.deal.items.first()
        joinable = row["status"] == "open" and row["places_left"] > 0 and (row["countdown"] or 0) > 0
        return self.page(
            "templates/group",
            {
                "group": {**row, "expires_at": str(row["expires_at"] or "")},
                "deal": {"id": group.deal_id, "name": group.deal.name, "size": group.deal.size},
                "item": {
                    "sku": item.sku_id,
                    "name": item.sku.product.name,
                    "price": item.sku.price,
                    "group_price": item.price,
                    "product_url": f"/products/{item.sku.product_id}/",
                }
                if item
                else None,
                "join_url": f"/group-buy/{group.deal_id}/?sku={item.sku_id}&group={group.pk}"
                if item and joinable
                else "",
                "open_url": f"/group-buy/{group.deal_id}/?sku={item.sku_id}" if item else "",
                "page_title": group.deal.name,
            },
        )


class GroupCheckout(MemberRequiredMixin, StorefrontPage):
    """Open a group, or join one (``?group=``): one item at the group price, delivered or
    picked up, then the payment page. The group opens (or the place counts) once paid."""

    def _context(self, request: HttpRequest, deal: Any, data: dict[str, Any]) -> dict[str, Any]:
        from shop.stores.models import Store

        addresses = list(member_selectors.address_list(self.member))
        stores = list(Store.objects.filter(is_active=True, pickup_enabled=True).order_by("name"))
        item = deal.items.filter(sku_id=as_id(data.get("sku"))).select_related("sku__product").first()
        return {
            "deal": {"id": deal.pk, "name": deal.name, "size": deal.size, "hours": deal.hours},
            "item": {
                "sku": item.sku_id,
                "name": item.sku.product.name,
                "label": item.sku.label,
                "price": item.sku.price,
                "group_price": item.price,
            }
            if item
            else None,
            "group": as_id(data.get("group")) or "",
            "quantity": data.get("quantity") or "1",
            "fulfilment": data.get("fulfilment") or ("delivery" if addresses else "pickup"),
            "addresses": [{"id": a.pk, "text": a.one_line, "default": a.is_default} for a in addresses],
            "address": as_id(data.get("address")) or next((a.pk for a in addresses if a.is_default), None),
            "stores": [{"id": s.pk, "name": s.name} for s in stores],
            "store": as_id(data.get("store")) or (stores[0].pk if stores else None),
            "add_address_url": f"/account/addresses/new/?next={request.path}",
        }

    def _deal(self, pk: int) -> Any:
        from shop.marketing import groups

        return get_object_or_404(groups.running_deals().prefetch_related("items"), pk=pk)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        deal = self._deal(pk)
        return self.page("templates/group-checkout", self._context(request, deal, dict(request.GET.items())))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from shop.marketing import groups
        from shop.marketing.models import Group

        deal = self._deal(pk)
        data = {k: request.POST.get(k, "") for k in ("sku", "group", "fulfilment", "address", "store", "note")}
        body: dict[str, Any] = {
            "sku": data["sku"],
            "quantity": _int(request.POST.get("quantity")) or 0,
            "fulfilment": data["fulfilment"],
            "address": data["address"] or None,
            "store": data["store"] or None,
            "note": data["note"],
        }
        context = self._context(request, deal, {**data, "quantity": request.POST.get("quantity", "")})
        try:
            if data["group"]:
                group = get_object_or_404(Group, pk=as_id(data["group"]) or 0, deal=deal)
                order = groups.group_join(self.member, group, body)
            else:
                order = groups.group_open(self.member, deal, body)
        except order_services.OrderRefused as exc:
            context["errors"] = {"general": [str(exc.message)]}
            context["group"] = ""  # the way forward: open a new group
            return self.page("templates/group-checkout", context, status=409)
        except ValidationError as exc:
            context["errors"] = drops.errors_data(form_errors(exc))
            return self.page("templates/group-checkout", context, status=400)
        return HttpResponseRedirect(f"/account/orders/{order.pk}/pay/")
