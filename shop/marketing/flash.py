"""Flash sales (秒杀): sessions, their prices in the pipeline, and their activity stock.

Stock rule. A session item's ``stock`` is a quota set aside out of the SKU's normal stock
(at most the SKU's stock when the session is made). A flash unit is taken from both:
the session item's ``sold`` rises by a conditional UPDATE (``sold + n <= stock``, in the
order's transaction, never oversold and never below zero — a CHECK constraint backs it),
and the order service decrements the SKU's normal stock as for any order. So the normal
stock stays the one physical truth (after-sales and cancellations return units to it as
they always do) and the activity stock caps how many units sell at the flash price.

An unpaid order with a flash line must be paid within the shop's
``MarketingSettings.flash_pay_minutes`` (default 5): its ``pay_by`` is set shorter at
creation, so the order timers cancel it; the cancellation (in its transaction) returns
its units to the session (``order_released``). A late payment revives such an order only
if the session still has the units (``order_revivable``).

PostgreSQL is the only store: no Redis counter in front, so a Redis restart can neither
lose a sale nor oversell. Concurrent buyers of one item queue on its row for the short
time between the conditional UPDATE and the commit (the order's last statements).

Per-member limit: when an item with a per-member limit applies, order creation locks the
member's row (``lock_buyer``) and prices again, so a member's orders are priced one at a
time and the units counted here (``units_bought``: uses of orders not released) include
every earlier order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.parsing import as_id
from shop import pricing
from shop.catalogue.models import Product, Sku
from shop.marketing import selectors as base
from shop.marketing.models import FlashItem, FlashSession, FlashUse, MarketingSettings

KIND = "flash_sale"
MAX_ITEMS = 100
MAX_UNITS = 10_000_000


# --- reads --------------------------------------------------------------------------------
def running_sessions(now: datetime) -> Any:
    return FlashSession.objects.filter(ended_at__isnull=True, starts_at__lte=now, ends_at__gt=now)


def offers(skus: Iterable[Sku], now: datetime) -> dict[int, Any]:
    """The flash price of each SKU in a session running now (the lowest, if two)."""
    ids = [s.pk for s in skus]
    sessions = [w.id for w in base.calendar().flash_sessions if w.runs_at(now)]
    if not ids or not sessions:
        return {}
    found: dict[int, Any] = {}
    items = FlashItem.objects.filter(session_id__in=sessions, sku_id__in=ids).select_related("session")
    for item in sorted(items, key=lambda i: (i.price, i.pk)):
        if item.sku_id in found:
            continue
        found[item.sku_id] = base.Offer(
            activity=pricing.Activity(KIND, item.pk, item.price),
            name=item.session.name,
            ends_at=item.session.ends_at,
            per_member_limit=item.per_member_limit,
            remaining=item.remaining,
        )
    return found


def units_bought(member: Any, item_ids: Iterable[int]) -> dict[int, int]:
    """Units ``member`` holds of each flash item (orders not released)."""
    rows = (
        FlashUse.objects.filter(member=member, item_id__in=list(item_ids), released=False)
        .values("item_id")
        .annotate(units=Sum("quantity"))
    )
    return {row["item_id"]: int(row["units"] or 0) for row in rows}


def _item_row(item: FlashItem, now: datetime) -> dict[str, Any]:
    sku = item.sku
    return {
        "id": item.pk,
        "sku": sku.pk,
        "product": sku.product_id,
        "name": sku.product.name,
        "image": _image(sku.product),
        "price": sku.price,
        "flash_price": item.price,
        "stock": item.stock,
        "remaining": item.remaining,
        "sold_out": item.remaining <= 0,
        "per_member_limit": item.per_member_limit,
    }


def _image(product: Product) -> str:
    images = getattr(product, "images", None)
    if images is None:
        return ""
    first = images.all()[:1]
    found = first[0] if first else None
    url = getattr(getattr(found, "image", None), "url", "") if found is not None else ""
    return str(url or "")


def session_row(session: FlashSession, now: datetime) -> dict[str, Any]:
    running = session.ended_at is None and session.starts_at <= now < session.ends_at
    upcoming = session.ended_at is None and now < session.starts_at
    target = session.ends_at if running else session.starts_at
    return {
        "id": session.pk,
        "name": session.name,
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "ended_at": session.ended_at,
        "state": "running" if running else "upcoming" if upcoming else "ended",
        "countdown": max(int((target - now).total_seconds()), 0) if running or upcoming else 0,
        "items": [
            _item_row(item, now)
            for item in session.items.all()
            if item.sku.is_active and item.sku.product.status == Product.Status.ON_SALE
        ],
    }


def storefront_sessions(now: datetime | None = None, upcoming: int = 3) -> dict[str, Any]:
    """The sessions running now and the next ``upcoming`` ones, with their items' prices,
    remaining activity stock and countdowns (to the end, or to the start)."""
    now = now or timezone.now()
    found = FlashSession.objects.filter(ended_at__isnull=True, ends_at__gt=now).prefetch_related(
        "items__sku__product__images"
    )
    current = [s for s in found.filter(starts_at__lte=now).order_by("ends_at", "id")[:10]]
    nxt = [s for s in found.filter(starts_at__gt=now).order_by("starts_at", "id")[:upcoming]]
    return {
        "now": now,
        "current": [session_row(s, now) for s in current],
        "next": [session_row(s, now) for s in nxt],
    }


def block_data(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decoration ``flash_sale`` block: the items of the running sessions (else of the
    next one), ``limit`` of them, with the countdown."""
    listing = storefront_sessions()
    sessions = listing["current"] or listing["next"][:1]
    from shop.decoration.blocks import product_url

    # shaped like the theme's product cards: the flash price, the SKU's price struck through
    items = [
        {
            **item,
            "id": item["product"],
            "price": item["flash_price"],
            "list_price": item["price"],
            "url": product_url(item["product"]),
            "image": item["image"] or None,
            "session": s["id"],
            "ends_at": s["ends_at"],
            "starts_at": s["starts_at"],
            "state": s["state"],
        }
        for s in sessions
        for item in s["items"]
    ]
    answers: list[dict[str, Any]] = []
    for config in configs:
        limit = int(config.get("limit") or 4)
        found: dict[str, Any] = {"items": items[:limit]}
        if sessions:
            found.update(state=sessions[0]["state"], countdown=sessions[0]["countdown"])
        answers.append(found)
    return answers


# --- writes: sessions ---------------------------------------------------------------------------
def _items(value: Any, starts: datetime | None, ends: datetime | None) -> tuple[list[FlashItem], list[str]]:
    problems: list[str] = []
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ITEMS:
        return [], [_("Add 1 to %(n)s SKUs.") % {"n": MAX_ITEMS}]
    sku_ids = [n for raw in value if isinstance(raw, dict) and (n := as_id(raw.get("sku")))]
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=sku_ids, is_active=True)}
    taken: set[int] = set()
    if starts and ends and skus:
        taken = set(
            FlashItem.objects.filter(
                sku_id__in=list(skus),
                session__ended_at__isnull=True,
                session__starts_at__lt=ends,
                session__ends_at__gt=starts,
            ).values_list("sku_id", flat=True)
        )
    items: list[FlashItem] = []
    seen: set[int] = set()

    def whole(raw: Any, low: int, high: int) -> int | None:
        return raw if isinstance(raw, int) and not isinstance(raw, bool) and low <= raw <= high else None

    for n, raw in enumerate(value, start=1):
        if not isinstance(raw, dict):
            problems.append(_("Item %(n)s: send an object.") % {"n": n})
            continue
        sku = skus.get(as_id(raw.get("sku")) or 0)
        price = whole(raw.get("price"), 0, MAX_UNITS * 10)
        stock = whole(raw.get("stock"), 1, MAX_UNITS)
        limit = raw.get("per_member_limit")
        if sku is None:
            problems.append(_("Item %(n)s: choose a SKU on sale.") % {"n": n})
        elif sku.pk in seen:
            problems.append(_("Item %(n)s: listed twice.") % {"n": n})
        elif price is None or price >= sku.price:
            problems.append(_("Item %(n)s: the flash price is in fen, below the SKU's price.") % {"n": n})
        elif stock is None:
            problems.append(_("Item %(n)s: the activity stock is a whole number, at least 1.") % {"n": n})
        elif stock > sku.stock:
            problems.append(
                _("Item %(n)s: the activity stock comes out of the SKU's stock (%(stock)s now).")
                % {"n": n, "stock": sku.stock}
            )
        elif limit is not None and whole(limit, 1, MAX_UNITS) is None:
            problems.append(_("Item %(n)s: the per-member limit is a whole number, at least 1.") % {"n": n})
        elif sku.pk in taken:
            problems.append(_("Item %(n)s: this SKU is in another flash sale at that time.") % {"n": n})
        else:
            seen.add(sku.pk)
            items.append(FlashItem(sku=sku, price=price, stock=stock, per_member_limit=limit))
    return items, problems


def session_create(data: dict[str, Any]) -> FlashSession:
    """A session: ``name``, ``starts_at``, ``ends_at``, ``items`` [{"sku", "price" (fen),
    "stock" (activity stock), "per_member_limit" (optional)}]."""
    from shop.marketing import services

    errors: services.Errors = {}
    name = services._text(data, "name", errors, limit=60, required=True)
    window = services._window(data, errors, None, True)
    items, problems = _items(data.get("items"), window.get("starts_at"), window.get("ends_at"))
    if problems:
        errors["items"] = problems
    if window.get("ends_at") is not None and window["ends_at"] <= timezone.now():
        errors["ends_at"] = [_("The end must be in the future.")]
    services._raise(errors)
    with transaction.atomic():
        session = FlashSession.objects.create(name=name or "", **window)
        for item in items:
            item.session = session
        FlashItem.objects.bulk_create(items)
    return session


def session_end(session: FlashSession) -> FlashSession:
    """Ends now: no more orders at the flash price (orders placed stay as they are)."""
    FlashSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    base.calendar_changed()
    session.refresh_from_db()
    return session


def settings_save(data: dict[str, Any]) -> MarketingSettings:
    from shop.marketing import services

    errors: services.Errors = {}
    minutes = services._int(data, "flash_pay_minutes", errors, low=1, high=120)
    services._raise(errors)
    found = MarketingSettings.current()
    if minutes is not None:
        found.flash_pay_minutes = minutes
        found.save(update_fields=["flash_pay_minutes"])
    return found


# --- orders ---------------------------------------------------------------------------------
def _take(item_id: int, quantity: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketing_flashitem SET sold = sold + %s WHERE id = %s AND sold + %s <= stock",
            [quantity, item_id, quantity],
        )
        return cursor.rowcount == 1


def take_units(order: Any, lines: list[tuple[int, int]]) -> None:
    """In order creation's transaction, just before the SKUs' stock: take (item id,
    quantity) from the sessions, in item order; not enough left → OrderRefused (everything
    rolls back). The order must be paid within the shop's flash payment time."""
    if not lines:
        return
    from shop.orders.services import OrderRefused

    pay_by = timezone.now() + timedelta(minutes=MarketingSettings.current().flash_pay_minutes)
    if order.pay_by is None or pay_by < order.pay_by:
        order.pay_by = pay_by
        type(order).objects.filter(pk=order.pk).update(pay_by=pay_by)
    FlashUse.objects.bulk_create(
        [FlashUse(item_id=i, order=order, member_id=order.member_id, quantity=q) for i, q in lines]
    )
    # last: the session rows stay locked only from here to the commit
    for item_id, quantity in sorted(lines):
        if not _take(item_id, quantity):
            raise OrderRefused(
                "flash_sold_out",
                _("The flash sale sold out while you were ordering."),
                [{"flash_item": item_id, "code": "flash_sold_out"}],
            )


def order_released(order: Any) -> int:
    """An unpaid order was cancelled (in its transaction): its flash units go back to the
    sessions. Idempotent (each use is released once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketing_flashuse SET released = true WHERE order_id = %s AND NOT released "
            "RETURNING item_id, quantity",
            [order.pk],
        )
        rows = sorted(cursor.fetchall())
        for item_id, quantity in rows:
            cursor.execute(
                "UPDATE marketing_flashitem SET sold = sold - %s WHERE id = %s AND sold >= %s",
                [quantity, item_id, quantity],
            )
    return sum(q for _i, q in rows)


def order_revivable(order: Any) -> bool:
    """A late payment of a cancelled order: its flash units are taken again if the sessions
    still have them (the caller's savepoint undoes a partial retake)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketing_flashuse SET released = false WHERE order_id = %s AND released RETURNING item_id, quantity",
            [order.pk],
        )
        rows = sorted(cursor.fetchall())
    return all(_take(item_id, quantity) for item_id, quantity in rows)


def session_results(session: FlashSession) -> dict[str, Any]:
    uses = FlashUse.objects.filter(item__session=session, released=False)
    paid = uses.filter(order__paid_at__isnull=False).exclude(Q(order__status="cancelled"))
    return {
        "orders": uses.values("order_id").distinct().count(),
        "paid_orders": paid.values("order_id").distinct().count(),
        "units": int(uses.aggregate(n=Sum("quantity"))["n"] or 0),
    }
