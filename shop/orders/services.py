"""Orders: creation (stock taken atomically, idempotent) and every transition, each in one
transaction with the order row locked, recorded in the order log."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.money import format_money
from platform_core.parsing import as_id
from shop import events
from shop.checkout.services import quote
from shop.marketing import services as marketing
from shop.members.models import Address
from shop.models import ShopSettings
from shop.orders.models import IdempotencyKey, Order, OrderLine, OrderLog
from shop.stores import selectors as stores

log = logging.getLogger(__name__)


MAX_ORDER_TOTAL = 1_000_000_000  # ¥10,000,000.00: keeps every total far inside the columns


class OrderRefused(Exception):
    """The order cannot be placed as asked; ``details`` says exactly why (HTTP 409)."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class TransitionRefused(Exception):
    def __init__(self, order: Order, action: str) -> None:
        super().__init__(f"cannot {action} an order that is {order.status}")
        self.order, self.action = order, action


S = Order.Status
TRANSITIONS: dict[str, tuple[set[str], str, str | None]] = {
    # action: (from, to, fulfilment it applies to)
    "pay": ({S.UNPAID}, S.PAID, None),
    "ship": ({S.PAID}, S.SHIPPED, Order.Fulfilment.DELIVERY),
    "deliver": ({S.SHIPPED}, S.DELIVERED, Order.Fulfilment.DELIVERY),
    "ready": ({S.PAID}, S.READY_FOR_PICKUP, Order.Fulfilment.PICKUP),
    "pick_up": ({S.READY_FOR_PICKUP}, S.PICKED_UP, Order.Fulfilment.PICKUP),
    "complete": ({S.DELIVERED, S.PICKED_UP}, S.COMPLETED, None),
    "cancel": ({S.UNPAID}, S.CANCELLED, None),
    # every unit refunded (after-sales): stock went back with each refund, not here
    "close": ({S.PAID, S.SHIPPED, S.DELIVERED, S.READY_FOR_PICKUP, S.PICKED_UP}, S.CANCELLED, None),
}
TIMESTAMPS: dict[str, str] = {
    S.PAID: "paid_at",
    S.SHIPPED: "shipped_at",
    S.DELIVERED: "delivered_at",
    S.PICKED_UP: "delivered_at",
    S.COMPLETED: "completed_at",
    S.CANCELLED: "cancelled_at",
}


def _number() -> str:
    return timezone.localtime().strftime("%Y%m%d") + f"{secrets.randbelow(10**10):010d}"


def _take_stock(lines: list[tuple[int, int]]) -> int | None:
    """Decrement stock of each (sku_id, quantity) with a conditional update, in SKU order
    (so two orders never lock each other's rows in opposite orders). Returns the first SKU
    that lacked stock (everything is then rolled back by the caller), or None."""
    with connection.cursor() as cursor:
        for sku_id, quantity in sorted(lines):
            cursor.execute(
                "UPDATE catalogue_sku SET stock = stock - %s WHERE id = %s AND is_active AND stock >= %s",
                [quantity, sku_id, quantity],
            )
            if cursor.rowcount != 1:
                return sku_id
    return None


def _return_stock(order: Order) -> None:
    with connection.cursor() as cursor:
        for line in sorted(order.lines.all(), key=lambda line: line.sku_id):
            cursor.execute("UPDATE catalogue_sku SET stock = stock + %s WHERE id = %s", [line.quantity, line.sku_id])


def _address_snapshot(member: Any, address_id: Any) -> dict[str, Any]:
    address_pk = as_id(address_id)
    address = Address.objects.filter(member=member, pk=address_pk).first() if address_pk else None
    if address is None:
        raise ValidationError({"address": [_("Choose one of your addresses.")]})
    return {
        "id": address.pk,
        "recipient": address.recipient,
        "phone": address.phone,
        "province": address.province,
        "city": address.city,
        "district": address.district,
        "detail": address.detail,
        "postal_code": getattr(address, "postal_code", ""),
    }


def _store_snapshot(store_id: Any) -> dict[str, Any]:
    store_pk = as_id(store_id)
    store = stores.pickup_store(store_pk) if store_pk else None
    if store is None:
        raise ValidationError({"store": [_("Choose one of the pickup stores.")]})
    return stores.snapshot(store)


def order_create(
    member: Any,
    *,
    items: Sequence[tuple[Any, int, int | None]],
    fulfilment: str,
    address_id: Any = None,
    store_id: Any = None,
    note: str = "",
    expected_payable: int | None = None,
    idempotency_key: str | None = None,
    coupon: Any = None,
) -> Order:
    """Place an order for ``items`` = [(sku_id, quantity, price the buyer saw)]. Prices and
    stock are re-checked; stock is taken atomically; a retried request with the same
    idempotency key returns the first order. ``coupon``: one of the member's coupons (a
    coupon that does not apply is a ValidationError on ``coupon``); it is held by the
    order until paid (used) or cancelled (unused again)."""
    if fulfilment not in Order.Fulfilment.values:
        raise ValidationError({"fulfilment": [_("Choose delivery or store pickup.")]})
    if not items:
        raise ValidationError({"items": [_("Your order is empty.")]})
    if len(note) > 200:
        raise ValidationError({"note": [_("Use at most 200 characters.")]})
    if idempotency_key is not None and not 8 <= len(idempotency_key) <= 80:
        raise ValidationError({"idempotency_key": [_("Use 8 to 80 characters.")]})
    fingerprint = hashlib.sha256(
        json.dumps(
            [fulfilment, str(address_id), str(store_id), note.strip(), sorted((str(i[0]), i[1]) for i in items)]
            + ([str(coupon)] if coupon not in (None, "") else []),
            ensure_ascii=False,
        ).encode()
    ).hexdigest()
    key = (idempotency_key, fingerprint) if idempotency_key else None
    try:
        return _place(
            member,
            items=items,
            fulfilment=fulfilment,
            address_id=address_id,
            store_id=store_id,
            note=note,
            expected_payable=expected_payable,
            coupon=coupon,
            key=key,
        )
    except _KeyTaken:
        first = _first_order(member, *key) if key else None
    except (OrderRefused, ValidationError):
        # A retry of a request that did place its order answers with that order, even if
        # what it asked for cannot be had any more (its last unit is in that very order).
        first = _first_order(member, *key) if key else None
        if first is None:
            raise
    if first is None:  # (the key's transaction committed without an order: cannot happen)
        raise RuntimeError("idempotency key without an order")
    return first


class _KeyTaken(Exception):
    """The idempotency key was recorded by another request (which committed meanwhile)."""


def _place(
    member: Any,
    *,
    items: Sequence[tuple[Any, int, int | None]],
    fulfilment: str,
    address_id: Any,
    store_id: Any,
    note: str,
    expected_payable: int | None,
    coupon: Any,
    key: tuple[str, str] | None,
) -> Order:
    """``order_create``'s transaction (inputs checked). Round trips when no activity with
    a per-member limit applies and the process knows the shop's settings, template and
    calendar: BEGIN, the address, the SKUs, the order, its lines, its log, the idempotency
    key, the stock, COMMIT (tests/orders/test_query_budget.py holds it to 10)."""
    settings = ShopSettings.cached()
    with transaction.atomic():
        address = _address_snapshot(member, address_id) if fulfilment == Order.Fulfilment.DELIVERY else {}
        store = _store_snapshot(store_id) if fulfilment == Order.Fulfilment.PICKUP else {}
        found = quote(items, fulfilment=fulfilment, province=address.get("province"), member=member, coupon=coupon)
        if marketing.needs_buyer_lock(found.marketing):
            # A per-member activity limit or a group place counts this member's earlier
            # orders: take the member's row, so their orders are priced one at a time, and
            # price again under it. (Most orders have neither and lock nothing here.)
            marketing.lock_buyer(member)
            found = quote(items, fulfilment=fulfilment, province=address.get("province"), member=member, coupon=coupon)
        if found.payable > MAX_ORDER_TOTAL:
            raise OrderRefused(
                "too_large", _("One order can be at most %(max)s.") % {"max": format_money(MAX_ORDER_TOTAL)}
            )
        if found.problems:
            raise OrderRefused("unavailable", _("Some items cannot be ordered as they are."), found.problems)
        if expected_payable is not None and expected_payable != found.payable:
            raise OrderRefused(
                "price_changed",
                _("The total changed to %(total)s since you looked.") % {"total": format_money(found.payable)},
                {"payable": found.payable, "changes": found.changes, "steps": found.priced.steps},
            )
        priced = found.priced
        if priced.coupon_problem:
            raise ValidationError({"coupon": [next(c["message"] for c in found.changes if c["code"] == "coupon")]})
        order = Order.objects.create(
            number=_number(),
            member=member,
            fulfilment=fulfilment,
            goods_total=priced.goods_total,
            discount_total=priced.discount_total,
            shipping_fee=priced.shipping,
            payable=priced.payable,
            address=address,
            store_id_snapshot=store.get("id"),
            store=store,
            note=note.strip(),
            pay_by=timezone.now() + timedelta(minutes=settings.unpaid_timeout_minutes),
        )
        by_sku = {line.sku.pk: line for line in found.lines}
        lines = OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    sku_id=p.sku_id,
                    product_id_snapshot=by_sku[p.sku_id].sku.product_id,
                    product_name=by_sku[p.sku_id].sku.product.name,
                    sku_label=_sku_label(by_sku[p.sku_id].sku),
                    quantity=p.quantity,
                    unit_price=p.unit_price,
                    list_price=p.list_price,
                    activity_discount=p.activity_discount,
                    promotion_share=p.promotion_share,
                    coupon_share=p.coupon_share,
                    amount_paid=p.amount_paid,
                )
                for p in priced.lines
            ]
        )
        marketing.order_placed(order, found)  # holds the coupon; records units at activity prices
        entry = OrderLog.objects.create(
            order=order, from_status="", to_status=order.status, actor=f"member:{member.pk}"
        )
        if key is not None:
            _record_idempotency_key(member, order, *key)
        # Stock last, just before commit: the SKU rows stay locked for the shortest time, so
        # buyers of one hot SKU queue as little as possible. Sold out → everything above is
        # rolled back with the exception.
        marketing.take_activity_stock(order, found)  # flash-sale units (their session's row), then the SKUs'
        short = _take_stock([(line.sku.pk, line.quantity) for line in found.lines])
        if short is not None:
            raise OrderRefused("stock", _("Sold out while you were ordering."), [{"sku": short, "code": "stock"}])
        events.publish(events.order_created, order=order)
    _known_relations(order, lines=lines, log=[entry])
    return order


def _record_idempotency_key(member: Any, order: Order, key: str, fingerprint: str) -> None:
    """Record ``key`` → ``order`` in the order's transaction, in one statement, before the
    stock (so the hot rows are not held meanwhile). A concurrent request with the same key
    waits here on the unique index until the first one ends: if it committed, this one
    rolls back (``_KeyTaken``) and answers with the first order; if it rolled back, this one
    goes ahead."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {IdempotencyKey._meta.db_table} (member_id, scope, key, order_id, request_hash, created_at) "
            "VALUES (%s, 'order_create', %s, %s, %s, now()) "
            "ON CONFLICT (member_id, scope, key) DO NOTHING RETURNING id",
            [member.pk, key, order.pk, fingerprint],
        )
        if cursor.fetchone() is None:
            raise _KeyTaken(key)


def _first_order(member: Any, key: str, fingerprint: str) -> Order | None:
    """The order a request with ``key`` placed before, or None; the same key with another
    request is refused."""
    existing = IdempotencyKey.objects.filter(member=member, scope="order_create", key=key).first()
    if existing is None or existing.order_id is None:
        return None
    if existing.request_hash != fingerprint:
        raise OrderRefused(
            "idempotency_mismatch", _("This Idempotency-Key was already used for a different order request.")
        )
    return Order.objects.get(pk=existing.order_id)


def _known_relations(order: Order, **related: list[Any]) -> None:
    """Attach rows just written as the order's related objects (``order.lines.all()``
    etc. then read no query), as ``prefetch_related`` would have."""
    cache = order.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in related.items():
        queryset = getattr(order, name).all()
        queryset._result_cache = list(rows)
        queryset._prefetch_done = True
        cache[name] = queryset


def _sku_label(sku: Any) -> str:
    return " / ".join(str(sku.spec_values.get(d["name"], "")) for d in sku.product.specs)


def _apply(order: Order, action: str, *, actor: str, note: str = "", **fields: Any) -> Order:
    """Apply a transition to an order locked by the caller's transaction."""
    allowed, target, fulfilment = TRANSITIONS[action]
    if order.status not in allowed or (fulfilment and order.fulfilment != fulfilment):
        raise TransitionRefused(order, action)
    before = order.status
    order.status = target
    stamp = TIMESTAMPS.get(target)
    if stamp:
        setattr(order, stamp, timezone.now())
    for key, value in fields.items():
        setattr(order, key, value)
    order.save()
    OrderLog.objects.create(order=order, from_status=before, to_status=target, actor=actor, note=note[:255])
    if action == "cancel":
        marketing.order_released(order)  # flash units back to their session, a group place freed
        _return_stock(order)
        events.publish(events.order_cancelled, order=order, reason=note)
    elif action == "close":
        events.publish(events.order_cancelled, order=order, reason=note)
    elif action == "pay":
        events.publish(events.order_paid, order=order)
    elif action == "ship":
        events.publish(events.order_shipped, order=order)
    elif action == "complete":
        events.publish(events.order_completed, order=order)
    return order


def _transition(order_id: int, action: str, *, actor: str, note: str = "", **fields: Any) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        return _apply(order, action, actor=actor, note=note, **fields)


def order_cancel(order: Order, *, actor: str, reason: str) -> Order:
    return _transition(order.pk, "cancel", actor=actor, note=reason, cancel_reason=reason[:200])


def order_mark_paid(order: Order, *, amount: int, actor: str, reference: str = "") -> tuple[Order, str]:
    """Record a payment, in one transaction with the order locked. Returns (order, outcome):

    * "paid";
    * "already_paid": this same payment (``reference``) again, or an offline confirmation
      repeated — nothing to do;
    * "duplicate_payment": another payment for an order already paid — the caller refunds it;
    * for a payment that arrived after the order was cancelled: "revived" when the shop
      revives such orders and stock allows, else "refund" (the caller refunds it).
    A pickup order gets its verification code in the same transaction."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status not in (S.UNPAID, S.CANCELLED):
            if not reference or reference == order.paid_reference:
                return order, "already_paid"
            OrderLog.objects.create(
                order=order,
                from_status=order.status,
                to_status=order.status,
                actor=actor,
                note=f"second payment {reference}: refund",
            )
            return order, "duplicate_payment"
        if amount != order.payable:
            raise ValidationError({"amount": [_("The payment does not match the amount due.")]})
        if order.status == S.CANCELLED:
            # Only an order cancelled while unpaid comes back; one closed after refunds never does.
            revive = ShopSettings.current().late_payment == ShopSettings.LatePayment.REVIVE and order.paid_at is None
            with transaction.atomic():  # a savepoint: a failed revival leaves no trace
                taken = (
                    revive
                    and marketing.order_revivable(order)  # flash units again; never a group order
                    and _take_stock([(line.sku_id, line.quantity) for line in order.lines.all()]) is None
                )
                if not taken:
                    transaction.set_rollback(True)
            if not taken:
                OrderLog.objects.create(
                    order=order,
                    from_status=order.status,
                    to_status=order.status,
                    actor=actor,
                    note=f"late payment {reference}: refund",
                )
                return order, "refund"
            before, order.status, order.cancelled_at, order.cancel_reason = order.status, S.PAID, None, ""
            order.paid_at, order.amount_paid, order.paid_reference = timezone.now(), amount, reference
            _give_pickup_code(order)
            order.save()
            OrderLog.objects.create(
                order=order,
                from_status=before,
                to_status=S.PAID,
                actor=actor,
                note=f"revived by late payment {reference}",
            )
            events.publish(events.order_paid, order=order)
            return order, "revived"
        _give_pickup_code(order)
        _apply(order, "pay", actor=actor, note=reference, amount_paid=amount, paid_reference=reference)
    return order, "paid"


def _give_pickup_code(order: Order) -> None:
    """An 8-digit code for a pickup order, unique among orders (on the locked order)."""
    if order.fulfilment != Order.Fulfilment.PICKUP or order.pickup_code:
        return
    for _attempt in range(20):
        code = f"{secrets.randbelow(10**8):08d}"
        if not Order.objects.filter(pickup_code=code).exists():
            order.pickup_code = code
            return
    raise RuntimeError("could not find a free pickup code")


# Other parts of the shop that may hold an order back from shipping or pickup register a
# check here: it answers why not (a message for the merchant) or None.
fulfilment_guards: list[Callable[[Order], str | None]] = []


def _check_fulfilment(order: Order) -> None:
    if blocked := marketing.shipping_blocked(order):  # a group buy that has not succeeded
        raise ValidationError({"order": [blocked]})
    for guard in fulfilment_guards:
        if blocked := guard(order):
            raise ValidationError({"order": [blocked]})


def order_ship(order: Order, *, carrier: str, tracking_number: str, actor: str) -> Order:
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    errors = {}
    if not carrier or len(carrier) > 40:
        errors["carrier"] = [_("Enter the carrier.")]
    if not tracking_number or len(tracking_number) > 60:
        errors["tracking_number"] = [_("Enter the tracking number.")]
    if errors:
        raise ValidationError(errors)
    _check_fulfilment(order)
    return _transition(order.pk, "ship", actor=actor, carrier=carrier, tracking_number=tracking_number)


def order_confirm_delivery(order: Order, *, actor: str) -> Order:
    return _transition(order.pk, "deliver", actor=actor)


def order_ready_for_pickup(order: Order, *, actor: str) -> Order:
    _check_fulfilment(order)
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        _give_pickup_code(locked)  # (paid orders have one; older rows get theirs here)
        return _apply(locked, "ready", actor=actor, pickup_code=locked.pickup_code)


def order_verify_pickup(code: str, *, actor: str) -> Order:
    """Store staff scan or type the buyer's code."""
    code = (code or "").strip()
    order = (
        Order.objects.filter(pickup_code=code, status=S.READY_FOR_PICKUP).first()
        if len(code) == 8 and code.isascii() and code.isdigit()
        else None
    )
    if order is None:
        raise ValidationError({"code": [_("No order is waiting for pickup with this code.")]})
    return _transition(order.pk, "pick_up", actor=actor)


def order_complete(order: Order, *, actor: str) -> Order:
    return _transition(order.pk, "complete", actor=actor)


def order_close(order: Order, *, actor: str, note: str) -> Order:
    """Every unit of the order was refunded: it ends cancelled (stock already went back with
    the refunds that warranted it, so none is returned here)."""
    return _transition(order.pk, "close", actor=actor, note=note, cancel_reason=note[:200])


# Other apps hold back the completion timer (an open after-sale): each filter takes a
# queryset of orders and returns those that may complete. Applied to the scan and again
# under the order's lock.
completion_filters: list[Callable[[QuerySet[Order]], QuerySet[Order]]] = []


def _may_complete(orders: QuerySet[Order]) -> QuerySet[Order]:
    for keep in completion_filters:
        orders = keep(orders)
    return orders


# --- timers (beat scans the database; no long countdowns) ---------------------------------
def run_timers(now: datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Cancel unpaid orders past their deadline (stock returned), confirm receipt of
    orders shipped long enough ago, and complete orders whose after-sales window closed.
    Idempotent and safe to run concurrently: each order is changed under its row lock, and
    one that moved meanwhile (paid at the last second, …) is left alone. An unexpected
    error on one order is logged and the others go on."""
    now = now or timezone.now()
    settings = ShopSettings.current()
    counts = {"cancelled": 0, "delivered": 0, "completed": 0}
    plans = [
        ("cancel", Order.objects.filter(status=S.UNPAID, pay_by__lte=now), "cancelled"),
        (
            "deliver",
            Order.objects.filter(status=S.SHIPPED, shipped_at__lte=now - timedelta(days=settings.auto_confirm_days)),
            "delivered",
        ),
        (
            "complete",
            _may_complete(
                Order.objects.filter(
                    status__in=[S.DELIVERED, S.PICKED_UP],
                    delivered_at__lte=now - timedelta(days=settings.after_sales_days),
                )
            ),
            "completed",
        ),
    ]
    for action, due, counter in plans:
        for pk in list(due.values_list("pk", flat=True)[:batch]):
            try:
                if action == "cancel":
                    _transition(pk, action, actor="system", note="unpaid timeout", cancel_reason="unpaid timeout")
                elif action == "complete":
                    if not _complete_by_timer(pk):
                        continue
                else:
                    _transition(pk, action, actor="system", note="timer")
                counts[counter] += 1
            except TransitionRefused:
                continue  # someone else moved it meanwhile (paid at the last second, …)
            except Exception:  # noqa: BLE001 - one bad order must not stop the shop's timers
                log.exception("order %s: timer %s failed", pk, action)
    return counts


def _complete_by_timer(pk: int) -> bool:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=pk)
        if not _may_complete(Order.objects.filter(pk=pk)).exists():
            return False  # an after-sale was opened meanwhile
        _apply(order, "complete", actor="system", note="timer")
    return True
