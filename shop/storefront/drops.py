"""What templates see: plain dicts and lists built from the shop's own rows. Liquid cannot
reach Python attributes, and nothing here hands it a model, a queryset or a callable —
only values, so a template reaches nothing the view did not choose to show."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from shop.catalogue.models import Product


def local(when: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as the shop's clock shows it (the shop's time zone, like the console), ''
    for none: the storefront never prints UTC."""
    return timezone.localtime(when).strftime(fmt) if when is not None else ""


def money(amount: int) -> str:
    from platform_core.money import format_money

    return format_money(amount, "CNY")


def _image_url(image: Any) -> str:
    try:
        return str(image.image.url)
    except ValueError:
        return ""


def product_card(product: Product, now: dict[str, Any] | None = None) -> dict[str, Any]:
    """A product as lists show it; ``now``: the price range a buyer pays now when an
    activity runs on it (``marketing.card_prices``), the regular price then struck through."""
    images = list(product.images.all())
    card = {
        "id": product.pk,
        "name": product.name,
        "subtitle": product.subtitle,
        "price": product.min_price,
        "max_price": product.max_price,
        "price_varies": product.min_price != product.max_price,
        "list_price": None,
        "sold": product.sales_count,
        "image": _image_url(images[0]) if images else "",
        "url": f"/products/{product.pk}/",
    }
    if now:
        card.update(now)
    return card


def product_cards(products: Any) -> list[dict[str, Any]]:
    """Cards of ``products`` at the price a buyer pays now (one read of the running
    activities for all of them)."""
    from shop.marketing.selectors import card_prices

    products = list(products)
    prices = card_prices([p.pk for p in products])
    return [product_card(p, prices.get(p.pk)) for p in products]


def reprice_blocks(page: dict[str, Any]) -> dict[str, Any]:
    """A decorated page whose product grids show the price a buyer pays now (the page's
    resolved blocks are cached without activities: they are applied here)."""
    from shop.marketing.selectors import card_prices

    blocks = page.get("blocks") or []
    ids = {
        row["id"]
        for block in blocks
        if isinstance(block, dict) and block.get("type") != "flash_sale"
        for row in ((block.get("data") or {}).get("products") or [])
        if isinstance(row, dict) and isinstance(row.get("id"), int)
    }
    prices = card_prices(ids)
    if not prices:
        return page
    repriced = []
    for block in blocks:
        data = block.get("data") if isinstance(block, dict) else None
        if isinstance(data, dict) and isinstance(data.get("products"), list) and block.get("type") != "flash_sale":
            rows = [
                {**row, **prices[row["id"]]} if isinstance(row, dict) and row.get("id") in prices else row
                for row in data["products"]
            ]
            block = {**block, "data": {**data, "products": rows}}
        repriced.append(block)
    return {**page, "blocks": repriced}


def product_detail(product: Product, activity: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    skus = [s for s in product.skus.all() if s.is_active]
    activity = activity or {}
    sku_rows = []
    for sku in skus:
        row = {
            "id": sku.pk,
            "label": sku.label,
            "values": sku.spec_values,
            "price": sku.price,
            "list_price": sku.list_price,
            "stock": max(sku.stock, 0),
            "code": sku.code,
        }
        offer = activity.get(sku.pk)
        if offer is not None:
            ends = offer["activity"].get("ends_at")
            row["activity"] = {
                "price": offer["activity_price"],
                "name": str(offer["activity"].get("name") or ""),
                "ends_at": ends.isoformat() if ends else "",
                "ends_label": local(ends, "%m-%d %H:%M"),
                "per_member_limit": offer["activity"].get("per_member_limit"),
            }
        sku_rows.append(row)
    in_stock = sum(r["stock"] for r in sku_rows)
    offers = [r["activity"] for r in sku_rows if "activity" in r]
    best = min(offers, key=lambda a: a["price"]) if offers else None
    attributes = []
    type_attributes = product.product_type.attributes if product.product_type else []
    for attr in type_attributes or []:
        key = attr.get("key") if isinstance(attr, dict) else None
        if key and product.attributes.get(key) not in (None, "", []):
            value = product.attributes[key]
            attributes.append({"name": attr.get("label") or key, "value": value})
    now_prices = [r["activity"]["price"] if "activity" in r else r["price"] for r in sku_rows]
    regular = [r["price"] for r in sku_rows]
    pay_now: dict[str, Any] | None = None
    if offers and now_prices:  # the price range a buyer pays now, the regular one struck through
        low, high = min(now_prices), max(now_prices)
        pay_now = {"price": low, "max_price": high, "price_varies": low != high, "list_price": min(regular)}
    return {
        **product_card(product, pay_now),
        "description": product.description,
        "code": product.code,
        "images": [_image_url(i) for i in product.images.all()],
        "specs": [{"name": s.get("name"), "values": list(s.get("values", []))} for s in product.specs or []],
        "skus": sku_rows,
        "single_sku": sku_rows[0]["id"] if len(sku_rows) == 1 else None,
        "in_stock": in_stock,
        "sold_out": in_stock == 0,
        "attributes": attributes,
        "activity": best,
        "category": {"id": product.category.pk, "name": product.category.name, "url": category_url(product.category.pk)}
        if product.category is not None
        else None,
    }


def category_url(pk: int) -> str:
    return f"/products/?category={pk}"


def category_nodes(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": n["id"], "name": n["name"], "url": category_url(n["id"]), "children": category_nodes(n["children"])}
        for n in tree
    ]


def quote_data(found: Any) -> dict[str, Any]:
    priced = found.priced
    steps = []
    for name, amount in priced.steps:
        steps.append({"name": name, "label": step_label(name), "amount": amount})
    return {
        "goods_total": priced.goods_total,
        "discount_total": priced.discount_total,
        "shipping": priced.shipping,
        "payable": priced.payable,
        "steps": steps,
        "problems": [{"code": p.get("code"), "message": str(p.get("message", ""))} for p in found.problems],
        "changes": [_change(c) for c in found.changes],
    }


def _change(change: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in change.items() if isinstance(v, (str, int, bool)) or v is None}
    if "message" in change:
        row["message"] = str(change["message"])
    return row


def order_data(order: Any, *, with_log: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "status_label": str(order.get_status_display()),
        "fulfilment": order.fulfilment,
        "goods_total": order.goods_total,
        "discount_total": order.discount_total,
        "shipping": order.shipping_fee,
        "payable": order.payable,
        "amount_paid": order.amount_paid,
        "created_at": local(order.created_at),
        "pay_by": local(order.pay_by),
        "url": reverse("member-orders:detail", args=[order.pk]),
        "pay_url": f"/account/orders/{order.pk}/pay/",
        "aftersale_url": f"/account/orders/{order.pk}/aftersale/",
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "pickup_code": order.pickup_code if order.status == "ready_for_pickup" else "",
        "address": {k: v for k, v in (order.address or {}).items() if isinstance(v, (str, int))},
        "store": {k: v for k, v in (order.store or {}).items() if isinstance(v, (str, int))},
        "note": order.note,
        "lines": [
            {
                "id": line.pk,
                "name": line.product_name,
                "label": line.sku_label,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount_paid": line.amount_paid,
                "url": f"/products/{line.product_id_snapshot}/",
            }
            for line in order.lines.all()
        ],
        "can_pay": order.status == "unpaid",
        "can_cancel": order.status == "unpaid",
        "can_confirm": order.status == "shipped",
        "can_aftersale": order.status in ("paid", "ready_for_pickup", "shipped", "delivered", "picked_up"),
    }
    if with_log:
        data["log"] = [
            {
                "at": local(entry.at),
                "to": entry.to_status,
                "label": str(dict(order.Status.choices).get(entry.to_status, entry.to_status)),
                "note": entry.note,
            }
            for entry in order.log.all()
        ]
    return data


def aftersale_data(aftersale: Any) -> dict[str, Any]:
    return {
        "id": aftersale.pk,
        "kind": aftersale.kind,
        "kind_label": str(aftersale.get_kind_display()),
        "status": aftersale.status,
        "status_label": str(aftersale.get_status_display()),
        "reason": aftersale.reason.name,
        "note": aftersale.note,
        "refund_amount": aftersale.refund_amount,
        "shipping_refund": aftersale.shipping_refund,
        "reject_reason": aftersale.reject_reason,
        "carrier": aftersale.carrier,
        "tracking_number": aftersale.tracking_number,
        "created_at": local(aftersale.created_at),
        "order": {
            "id": aftersale.order_id,
            "number": aftersale.order.number,
            "url": f"/account/orders/{aftersale.order_id}/",
        },
        "url": f"/account/aftersales/{aftersale.pk}/",
        "lines": [
            {
                "name": row.order_line.product_name,
                "label": row.order_line.sku_label,
                "quantity": row.quantity,
                "amount": row.amount,
            }
            for row in aftersale.lines.all()
        ],
        "can_ship_return": aftersale.status == "awaiting_return",
        "can_cancel": aftersale.status in ("requested", "approved", "awaiting_return"),
    }


COUPON_STATE_LABELS: dict[str, Any] = {
    "unused": lambda: _("Unused"),
    "locked": lambda: _("In an unpaid order"),
    "used": lambda: _("Used"),
    "expired": lambda: _("Expired"),
}


def member_coupon(coupon: Any, now: Any = None) -> dict[str, Any]:
    """A coupon the member holds: the template's terms, its own dates and state, and the
    order it went into."""
    from shop.marketing import selectors as marketing

    state = marketing.coupon_state(coupon, now)
    return {
        **marketing.offer_data(coupon.template),
        "id": coupon.pk,
        "state": state,
        "state_label": str(COUPON_STATE_LABELS.get(state, lambda: state)()),
        "valid_from": local(coupon.valid_from),
        "valid_until": local(coupon.valid_until),
        "valid_days": None,
        "used_at": local(coupon.used_at),
        "order_url": f"/account/orders/{coupon.order_id}/" if coupon.order_id else "",
    }


def errors_data(errors: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {str(k): [str(m) for m in v] for k, v in errors.items()}


def not_for_sale_message() -> str:
    return _("This product is not for sale.")


SORT_LABELS: dict[str, Any] = {
    "newest": lambda: _("Newest"),
    "sales": lambda: _("Best selling"),
    "price_asc": lambda: _("Price: low to high"),
    "price_desc": lambda: _("Price: high to low"),
}
ORDER_FILTER_LABELS: dict[str, Any] = {
    "unpaid": lambda: _("To pay"),
    "paid": lambda: _("To ship"),
    "shipped": lambda: _("To receive"),
    "completed": lambda: _("Completed"),
    "cancelled": lambda: _("Cancelled"),
}


def step_label(name: str) -> str:
    labels = {
        "goods": _("Goods"),
        "activity": _("Offers"),
        "activities": _("Offers"),
        "promotion": _("Spend-and-save"),
        "promotions": _("Spend-and-save"),
        "coupon": _("Coupon"),
        "discounts": _("Discounts"),
        "shipping": _("Shipping"),
        "free_shipping": _("Free shipping"),
        "payable": _("To pay"),
    }
    return str(labels.get(name, name))


def payable_move(seen: int | None, now: int) -> dict[str, Any]:
    """How the total moved from what the buyer saw: ``moved`` "up"/"down" ("" when the
    same or unknown), ``was``, ``now`` and ``by`` (fen)."""
    if seen is None or seen == now:
        return {"moved": "", "was": seen, "now": now, "by": 0}
    return {"moved": "up" if now > seen else "down", "was": seen, "now": now, "by": abs(now - seen)}


def refusal_details(details: Any) -> list[dict[str, Any]]:
    """What stopped an order (stock, price changes), as rows a template can list."""
    rows: list[dict[str, Any]] = []
    if isinstance(details, dict):
        for change in details.get("changes", []) or []:
            rows.append(_change(change))
        if "payable" in details:
            rows.append({"code": "payable", "now": details["payable"]})
    elif isinstance(details, list):
        rows.extend(_change(d) for d in details if isinstance(d, dict))
    return rows


def payment_methods(order: Any = None) -> list[dict[str, Any]]:
    """How ``order`` can be paid: the member's shop balance first when it covers the order."""
    from platform_core import stripe_gateway
    from platform_core.money import format_money
    from shop.payments.models import PaymentSettings
    from shop.wallet import services as wallet

    shop = PaymentSettings.current()
    methods = []
    if order is not None and order.payable >= 1:
        have = wallet.balance(order.member_id)
        if have >= order.payable:
            label = _("Shop balance (%(amount)s available)") % {"amount": format_money(have, order.currency)}
            methods.append({"key": "balance", "label": label})
    if stripe_gateway.stripe_enabled():
        methods.append({"key": "stripe", "label": _("Card")})
    if shop.offline_enabled:
        methods.append({"key": "offline", "label": _("Offline payment, confirmed by the merchant")})
    return methods


def started_payment(found: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings

    data = {k: (str(v) if not isinstance(v, (int, bool)) else v) for k, v in found.items()}
    if found.get("provider") == "stripe":
        data["stripe_js"] = settings.STRIPE_JS_URL
    return data


def _distribution_read(name: str) -> Any:
    """A read of the distribution engine, found by name: the commerce core never imports
    it (it may not be installed)."""
    import importlib

    try:
        distribution_selectors = importlib.import_module("distribution.selectors")
    except ImportError:
        return None
    return getattr(distribution_selectors, name, None)


def distributor_summary(member: Any, **options: Any) -> dict[str, Any] | None:
    """The member's distributor centre (None when the shop's distribution engine is not
    there). ``options``: ``host`` and ``scheme`` for share links."""
    summary = _distribution_read("centre_summary")
    return dict(summary(member, **options)) if summary else None


def product_share(member: Any, product: Any, **options: Any) -> dict[str, Any] | None:
    """A product page's commission preview and, for an active distributor, share link,
    QR code and poster (None: nothing to show)."""
    read = _distribution_read("product_share")
    found = read(member, product, **options) if read else None
    return dict(found) if found else None
