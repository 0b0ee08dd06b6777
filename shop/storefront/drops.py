"""What templates see: plain dicts and lists built from the shop's own rows. Liquid cannot
reach Python attributes, and nothing here hands it a model, a queryset or a callable —
only values, so a template reaches nothing the view did not choose to show."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from shop.catalogue.models import Product


def _image_url(image: Any) -> str:
    try:
        return str(image.image.url)
    except ValueError:
        return ""


def product_card(product: Product) -> dict[str, Any]:
    images = list(product.images.all())
    return {
        "id": product.pk,
        "name": product.name,
        "subtitle": product.subtitle,
        "price": product.min_price,
        "max_price": product.max_price,
        "price_varies": product.min_price != product.max_price,
        "sold": product.sales_count,
        "image": _image_url(images[0]) if images else "",
        "url": f"/products/{product.pk}/",
    }


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
                "ends_label": timezone.localtime(ends).strftime("%m-%d %H:%M") if ends else "",
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
    return {
        **product_card(product),
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
        "created_at": order.created_at.strftime("%Y-%m-%d %H:%M"),
        "pay_by": order.pay_by.strftime("%Y-%m-%d %H:%M") if order.pay_by else "",
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
                "at": entry.at.strftime("%Y-%m-%d %H:%M"),
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
        "created_at": aftersale.created_at.strftime("%Y-%m-%d %H:%M"),
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
