"""Carts and the checkout quote. Prices are re-read from the catalogue every time: the
buyer sees exactly what changed since an item went into the cart."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from platform_core.localcache import memo, shop_scope
from platform_core.parsing import as_id
from shop.catalogue.models import Product, Sku
from shop.checkout.models import Cart, CartItem, ShippingTemplate
from shop.marketing import selectors as marketing
from shop.pricing import LineIn, Priced, price_lines

MAX_QUANTITY = 999
MAX_CART_LINES = 100


def _errors(**fields: Any) -> ValidationError:
    return ValidationError({k: [v] for k, v in fields.items()})


# --- carts ------------------------------------------------------------------------------
def cart_for_member(member: Any) -> Cart:
    cart, _created = Cart.objects.get_or_create(member=member)
    return cart


def cart_for_guest(token: str | None) -> Cart:
    if token:
        found = Cart.objects.filter(guest_token=token, member__isnull=True).first()
        if found:
            return found
    return Cart.objects.create(guest_token=secrets.token_urlsafe(32))


def _sellable(sku_id: Any) -> Sku:
    sku = (
        Sku.objects.select_related("product")
        .filter(pk=sku_id, is_active=True, product__status=Product.Status.ON_SALE)
        .first()
        if as_id(sku_id)
        else None
    )
    if sku is None:
        raise _errors(sku=_("This item is not for sale."))
    return sku


def _quantity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise _errors(quantity=_("Choose a quantity from 1 to %(max)s.") % {"max": MAX_QUANTITY})
    return value


def cart_add(cart: Cart, sku_id: Any, quantity: Any) -> CartItem:
    quantity = _quantity(quantity)
    sku = _sellable(sku_id)
    with transaction.atomic():
        item = CartItem.objects.select_for_update().filter(cart=cart, sku=sku).first()
        total = quantity + (item.quantity if item else 0)
        if total > sku.stock:
            raise _errors(quantity=_("Only %(n)s left.") % {"n": sku.stock})
        if item is None:
            if cart.items.count() >= MAX_CART_LINES:
                raise _errors(sku=_("Your cart is full."))
            try:
                with transaction.atomic():
                    return CartItem.objects.create(
                        cart=cart, sku=sku, quantity=quantity, price_when_added=effective_price(sku)
                    )
            except IntegrityError:  # added concurrently: add to what that request put in
                item = CartItem.objects.select_for_update().get(cart=cart, sku=sku)
                total = quantity + item.quantity
                if total > sku.stock:
                    raise _errors(quantity=_("Only %(n)s left.") % {"n": sku.stock}) from None
        item.quantity = min(total, MAX_QUANTITY)
        item.price_when_added = effective_price(sku)  # the price the buyer saw this time
        item.save(update_fields=["quantity", "price_when_added"])
    return item


def cart_set_quantity(cart: Cart, item_id: int, quantity: Any) -> CartItem | None:
    item = CartItem.objects.filter(cart=cart, pk=item_id).first()
    if item is None:
        raise _errors(item=_("This item is not in your cart."))
    if quantity == 0:
        item.delete()
        return None
    quantity = _quantity(quantity)
    if quantity > item.sku.stock:
        raise _errors(quantity=_("Only %(n)s left.") % {"n": item.sku.stock})
    item.quantity = quantity
    item.save(update_fields=["quantity"])
    return item


def cart_merge(guest: Cart, cart: Cart) -> None:
    """At login: the guest cart's items join the member's cart (quantities add up, capped
    by stock); the guest cart is emptied."""
    with transaction.atomic():
        for item in guest.items.select_related("sku"):
            existing = CartItem.objects.select_for_update().filter(cart=cart, sku=item.sku).first()
            quantity = min(item.quantity + (existing.quantity if existing else 0), max(item.sku.stock, 1), MAX_QUANTITY)
            if existing:
                existing.quantity = quantity
                existing.save(update_fields=["quantity"])
            else:
                CartItem.objects.create(
                    cart=cart, sku=item.sku, quantity=quantity, price_when_added=item.price_when_added
                )
        guest.delete()


# --- shipping -----------------------------------------------------------------------------
_PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")


def province_key(name: str | None) -> str:
    """ "新疆维吾尔自治区", "新疆" → "新疆": addresses are free text, rules say it shortly."""
    name = (name or "").strip()
    for suffix in _PROVINCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def default_shipping_template() -> ShippingTemplate | None:
    """The shop's default template, read-only: from the process's memo of the shop's
    configuration (every save or delete of a template announces a change)."""
    return memo.get(shop_scope(), "checkout.default_template", _load_default_template)


def _load_default_template() -> ShippingTemplate | None:
    return ShippingTemplate.objects.filter(is_default=True).first()


def shipping_fee(goods_total: int, province: str | None) -> int | None:
    """The delivery fee for this order, or None when the shop does not deliver there."""
    template = default_shipping_template()
    if template is None:
        return 0
    fee: int | None = template.default_fee
    wanted = province_key(province)
    for rule in template.rules:
        if wanted and wanted in {province_key(p) for p in rule.get("provinces", [])}:
            fee = rule.get("fee")
            break
    if fee is None:
        return None
    if template.free_over is not None and goods_total >= template.free_over:
        return 0
    return fee


# --- the quote ------------------------------------------------------------------------------
@dataclass
class QuoteLine:
    sku: Sku
    quantity: int
    price_when_added: int | None = None
    # the unit price the buyer pays now: the activity price if one applies, else the SKU's
    price_now: int | None = None

    @property
    def price_changed(self) -> bool:
        now = self.sku.price if self.price_now is None else self.price_now
        return self.price_when_added is not None and self.price_when_added != now


@dataclass
class Quote:
    lines: list[QuoteLine]
    priced: Priced
    problems: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    # what marketing fed the pipeline (activities, promotions, the member's coupon)
    marketing: marketing.PricingInputs | None = None

    @property
    def payable(self) -> int:
        return self.priced.payable


def effective_price(sku: Sku) -> int:
    """What one unit of ``sku`` costs now (its activity price, if one runs)."""
    offer = marketing.activity_offers([sku]).get(sku.pk)
    return offer.activity.unit_price if offer else sku.price


def quote(
    items: Sequence[tuple[Any, int, int | None]],
    *,
    fulfilment: str,
    province: str | None = None,
    member: Any = None,
    coupon: Any = None,
) -> Quote:
    """Price ``(sku_id, quantity, price_when_added)`` items for delivery or pickup, for
    ``member`` (per-member activity limits) with the member's ``coupon`` (a member coupon
    id; one that is not theirs or not usable is a ValidationError on ``coupon``).
    ``problems`` lists what stops an order (off sale, not enough stock, not delivered
    there); ``changes`` what moved since the cart was filled (prices, activities that
    ended or started, an activity limit reached, a coupon that no longer applies)."""
    ids = [n for n in (as_id(i[0]) for i in items) if n]
    skus = {s.pk: s for s in Sku.objects.select_related("product").filter(pk__in=ids)}
    lines: list[QuoteLine] = []
    problems: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for sku_id, quantity, seen_price in items:
        sku_pk = as_id(sku_id)
        sku = skus.get(sku_pk) if sku_pk else None
        if sku is None or not sku.is_active or sku.product.status != Product.Status.ON_SALE:
            problems.append({"sku": sku_id, "code": "not_for_sale", "message": _("No longer for sale.")})
            continue
        if quantity > sku.stock:
            problems.append(
                {
                    "sku": sku.pk,
                    "code": "stock",
                    "available": sku.stock,
                    "message": _("Only %(n)s left of %(name)s.") % {"n": sku.stock, "name": sku.product.name},
                }
            )
        lines.append(QuoteLine(sku, quantity, seen_price))
    inputs = marketing.pricing_inputs([(line.sku, line.quantity) for line in lines], member=member, coupon=coupon)
    changes.extend(inputs.notes)
    for line in lines:
        activity = inputs.activities.get(line.sku.pk)
        line.price_now = activity.unit_price if activity else line.sku.price
        if line.price_changed:
            was = line.price_when_added
            code = "price"
            if activity is None and was is not None and was < line.sku.price:
                code = "activity_ended"
            elif activity is not None and was == line.sku.price:
                code = "activity_started"
            changes.append({"sku": line.sku.pk, "code": code, "was": was, "now": line.price_now})
    goods = sum(line.sku.price * line.quantity for line in lines)
    fee = 0
    if fulfilment == "delivery":
        found = shipping_fee(goods, province)
        if found is None:
            problems.append({"code": "not_delivered", "message": _("We do not deliver to %(p)s.") % {"p": province}})
        fee = found or 0
    priced = price_lines(
        [
            LineIn(line.sku.pk, line.quantity, line.sku.price, line.sku.list_price, inputs.activities.get(line.sku.pk))
            for line in lines
        ],
        shipping=fee,
        promotions=inputs.promotions,
        coupon=inputs.coupon,
    )
    if priced.coupon_problem:
        changes.append(
            {
                "code": "coupon",
                "coupon": inputs.member_coupon.pk if inputs.member_coupon else None,
                "reason": priced.coupon_problem,
                "message": marketing.coupon_problem_message(priced.coupon_problem),
            }
        )
    return Quote(lines=lines, priced=priced, problems=problems, changes=changes, marketing=inputs)


def cart_quote(
    cart: Cart, *, fulfilment: str, province: str | None = None, member: Any = None, coupon: Any = None
) -> Quote:
    items = [(i.sku_id, i.quantity, i.price_when_added) for i in cart.items.all()]
    return quote(items, fulfilment=fulfilment, province=province, member=member, coupon=coupon)


def cart_clear_skus(cart: Cart, sku_ids: list[int]) -> None:
    CartItem.objects.filter(cart=cart, sku_id__in=sku_ids).delete()


def member_cart_items(member: Any) -> list[CartItem]:
    """The items of the member's cart, in one query (no cart is made for it)."""
    return list(CartItem.objects.filter(cart__member=member))


def member_cart_clear_skus(member: Any, sku_ids: list[int]) -> None:
    """Ordered items leave the member's cart: one statement (no transaction around it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {CartItem._meta.db_table} AS item USING {Cart._meta.db_table} AS cart "
            "WHERE item.cart_id = cart.id AND cart.member_id = %s AND item.sku_id = ANY(%s)",
            [member.pk, list(sku_ids)],
        )
