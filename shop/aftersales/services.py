"""After-sales: every write, each in one transaction with the rows it depends on locked —
always the order first, then the after-sale (then, inside ``refund_payment``, the payment)
— recorded in the after-sale's log, its events published once the transaction commits.

* ``aftersale_request``: the buyer asks for some units of some lines back. The order row
  is locked while what is still claimable is counted, so two requests cannot claim the
  same units; each line's amount is its share of what was paid for the order line.
* ``aftersale_approve`` / ``aftersale_reject``: the merchant's review.
* ``aftersale_ship_return`` (buyer) / ``aftersale_receive`` (merchant): the return.
* ``aftersale_refund``: the money goes back through the order's payment(s); stock comes
  back for a refund before shipment; an order with every unit refunded is closed.

Errors are ``ValidationError`` naming the field at fault (HTTP 400)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.money import format_money
from platform_core.parsing import as_id
from shop import events
from shop.aftersales import selectors
from shop.aftersales.models import OPEN, AfterSale, AfterSaleLine, AfterSaleLog, AfterSaleReason
from shop.models import ShopSettings
from shop.orders import services as orders
from shop.orders.models import Order
from shop.payments import allocation
from shop.payments import services as payments
from shop.payments.models import Payment, Refund, RefundLine

A = AfterSale.Status
K = RefundLine.Kind
O = Order.Status  # noqa: E741
# an order whose units may be asked back (delivered ones only within the window)
REQUESTABLE = {O.PAID, O.SHIPPED, O.DELIVERED, O.READY_FOR_PICKUP, O.PICKED_UP}
# goods that left the shop: they can be returned; before that, only refunded
SHIPPED = {O.SHIPPED, O.DELIVERED, O.PICKED_UP}
MAX_LINES = 100


def _status_error(aftersale: AfterSale) -> ValidationError:
    return ValidationError(
        {
            "status": [
                _("Not possible while the after-sale is: %(status)s.") % {"status": aftersale.get_status_display()}
            ]
        }
    )


def _log(aftersale: AfterSale, before: str, actor: str, note: str = "") -> None:
    AfterSaleLog.objects.create(
        aftersale=aftersale, from_status=before, to_status=aftersale.status, actor=actor[:120], note=note[:255]
    )


def _move(aftersale: AfterSale, to: str, actor: str, note: str = "", **fields: Any) -> AfterSale:
    before = aftersale.status
    aftersale.status = to
    for key, value in fields.items():
        setattr(aftersale, key, value)
    aftersale.save()
    _log(aftersale, before, actor, note)
    return aftersale


def _locked(aftersale: AfterSale) -> tuple[Order, AfterSale]:
    """Lock the order, then the after-sale (call inside a transaction)."""
    order = Order.objects.select_for_update().get(pk=aftersale.order_id)
    return order, AfterSale.objects.select_for_update().get(pk=aftersale.pk)


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: [_("Enter text.")]})
    value = value.strip()
    if required and not value:
        raise ValidationError({field: [_("This field is required.")]})
    if len(value) > limit:
        raise ValidationError({field: [_("Use at most %(limit)d characters.") % {"limit": limit}]})
    return value


def _wanted_lines(raw: Any) -> list[tuple[int, int]]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"lines": [_("Choose at least one item of the order.")]})
    if len(raw) > MAX_LINES:
        raise ValidationError({"lines": [_("Too many items.")]})
    wanted: list[tuple[int, int]] = []
    for item in raw:
        line = as_id(item.get("line")) if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if line is None:
            raise ValidationError({"lines": [_("Each item needs the id of one of the order's lines.")]})
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100_000:
            raise ValidationError({"lines": [_("Each item needs a quantity of at least 1.")]})
        if any(line == seen for seen, _q in wanted):
            raise ValidationError({"lines": [_("Each line may appear once.")]})
        wanted.append((line, quantity))
    return wanted


def _check_window(order: Order, now: Any) -> None:
    if order.status not in REQUESTABLE:
        raise ValidationError(
            {"order": [_("An order that is %(status)s has no after-sales.") % {"status": order.get_status_display()}]}
        )
    if order.delivered_at is not None:
        days = ShopSettings.current().after_sales_days
        if now > order.delivered_at + timedelta(days=days):
            raise ValidationError(
                {"order": [_("The after-sales window closed %(days)d days after delivery.") % {"days": days}]}
            )


def aftersale_request(member: Any, order: Order, data: dict[str, Any]) -> AfterSale:
    """The buyer (``member``, who placed ``order``) asks for units back: ``data`` is
    {kind, reason, note, lines: [{line, quantity}]}."""
    kind = data.get("kind")
    if kind not in AfterSale.Kind.values:
        raise ValidationError({"kind": [_("Choose refund only, or return and refund.")]})
    reason_id = as_id(data.get("reason"))
    reason = selectors.reasons(active_only=True).filter(pk=reason_id).first() if reason_id else None
    if reason is None:
        raise ValidationError({"reason": [_("Choose one of the reasons.")]})
    note = _text(data.get("note"), "note", 200)
    wanted = _wanted_lines(data.get("lines"))
    if order.member_id != member.pk:
        raise ValidationError({"order": [_("Not your order.")]})
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        _check_window(order, timezone.now())
        if kind == AfterSale.Kind.RETURN_REFUND and order.status not in SHIPPED:
            raise ValidationError({"kind": [_("Nothing was shipped yet: ask for a refund only.")]})
        found = allocation.refundable(order, selectors.claimed_by_line(order))
        rows: list[AfterSaleLine] = []
        for line_id, quantity in wanted:
            left = found.lines.get(line_id)
            if left is None:
                raise ValidationError({"lines": [_("Item %(id)s is not part of this order.") % {"id": line_id}]})
            if quantity > left.units:
                raise ValidationError(
                    {
                        "lines": [
                            _("Only %(left)d of %(name)s can still be asked back.")
                            % {"left": left.units, "name": left.line.product_name}
                        ]
                    }
                )
            rows.append(
                AfterSaleLine(order_line=left.line, quantity=quantity, amount=allocation.unit_value(left, quantity))
            )
        shipping = _shipping_back(order, found, wanted)
        aftersale = AfterSale.objects.create(
            order=order,
            member=member,
            kind=kind,
            reason=reason,
            note=note,
            refund_amount=sum(row.amount for row in rows) + shipping,
            shipping_refund=shipping,
        )
        for row in rows:
            row.aftersale = aftersale
        AfterSaleLine.objects.bulk_create(rows)
        _log(aftersale, "", f"member:{member.pk}", note)
        events.publish(events.aftersale_opened, aftersale=aftersale)
    return aftersale


def _shipping_back(order: Order, found: allocation.Refundable, wanted: list[tuple[int, int]]) -> int:
    """The shipping fee (what is left of it: not refunded, not held by another request)
    goes back with the request that, before anything shipped, leaves no unit of the order
    to deliver; a partial refund, or one after shipping, is goods only."""
    if order.status != Order.Status.PAID or not found.shipping:
        return 0
    asked = dict(wanted)
    if any(left.units > asked.get(line_id, 0) for line_id, left in found.lines.items()):
        return 0
    return found.shipping


def aftersale_cancel(aftersale: AfterSale, *, member: Any) -> AfterSale:
    """The buyer withdraws a request the merchant has not approved yet."""
    with transaction.atomic():
        _order, locked = _locked(aftersale)
        if locked.member_id != member.pk:
            raise ValidationError({"aftersale": [_("Not your after-sale.")]})
        if locked.status != A.REQUESTED:
            raise _status_error(locked)
        _move(locked, A.CANCELLED, f"member:{member.pk}")
        events.publish(events.aftersale_closed, aftersale=locked, outcome="cancelled")
    return locked


def aftersale_approve(aftersale: AfterSale, *, actor: str) -> AfterSale:
    with transaction.atomic():
        _order, locked = _locked(aftersale)
        if locked.status != A.REQUESTED:
            raise _status_error(locked)
        to = A.AWAITING_RETURN if locked.kind == AfterSale.Kind.RETURN_REFUND else A.APPROVED
        return _move(locked, to, actor)


def aftersale_reject(aftersale: AfterSale, *, reason: Any, actor: str) -> AfterSale:
    reason = _text(reason, "reject_reason", 200, required=True)
    with transaction.atomic():
        _order, locked = _locked(aftersale)
        # any open stage: the merchant always has a way to end an after-sale (with a reason)
        if locked.status not in OPEN:
            raise _status_error(locked)
        _move(locked, A.REJECTED, actor, reason, reject_reason=reason)
        events.publish(events.aftersale_closed, aftersale=locked, outcome="rejected")
    return locked


def aftersale_ship_return(aftersale: AfterSale, *, member: Any, carrier: Any, tracking_number: Any) -> AfterSale:
    """The buyer sent the goods back: the carrier and tracking number."""
    errors: dict[str, list[str]] = {}
    for field, value, limit in (("carrier", carrier, 40), ("tracking_number", tracking_number, 60)):
        try:
            _text(value, field, limit, required=True)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _order, locked = _locked(aftersale)
        if locked.member_id != member.pk:
            raise ValidationError({"aftersale": [_("Not your after-sale.")]})
        if locked.status != A.AWAITING_RETURN:
            raise _status_error(locked)
        return _move(
            locked,
            A.RETURNED,
            f"member:{member.pk}",
            f"{carrier.strip()} {tracking_number.strip()}",
            carrier=carrier.strip(),
            tracking_number=tracking_number.strip(),
        )


def _return_stock(aftersale: AfterSale) -> None:
    units = sorted((line.order_line.sku_id, line.quantity) for line in aftersale.lines.select_related("order_line"))
    with connection.cursor() as cursor:
        for sku_id, quantity in units:
            cursor.execute("UPDATE catalogue_sku SET stock = stock + %s WHERE id = %s", [quantity, sku_id])


def aftersale_receive(aftersale: AfterSale, *, actor: str) -> AfterSale:
    """The merchant got the return back: its units are back in stock."""
    with transaction.atomic():
        _order, locked = _locked(aftersale)
        if locked.status != A.RETURNED:
            raise _status_error(locked)
        _return_stock(locked)
        return _move(locked, A.RECEIVED, actor, stock_returned=True)


def aftersale_refund(aftersale: AfterSale, *, actor: str, reference: Any = "") -> AfterSale:
    """Send the money back through the order's succeeded payment(s), oldest first. An
    offline refund is done at once when ``reference`` says how the money was sent back,
    else it stays pending until the merchant records that. A refund-only after-sale of an
    order not shipped yet puts its units back in stock; an order whose every unit is now
    refunded is closed. Safe to retry: each payment's refund has a key of this after-sale."""
    reference = _text(reference, "reference", 120)
    with transaction.atomic():
        order, locked = _locked(aftersale)
        if locked.status not in (A.APPROVED, A.RECEIVED):
            raise _status_error(locked)
        left = locked.refund_amount
        reason = _("After-sale %(id)s") % {"id": locked.pk}
        # what it is for, per order line: its lines' units and amounts, then its shipping share
        parts = [allocation.Part(K.GOODS, row.order_line_id, row.amount, row.quantity) for row in locked.lines.all()]
        if locked.shipping_refund:
            parts.append(allocation.Part(K.SHIPPING, None, locked.shipping_refund))
        found = Payment.objects.filter(order=order, status=Payment.Status.SUCCEEDED, pays_order=True).order_by(
            "created_at", "id"
        )
        for payment in found:
            part = min(left, payment.refundable)
            if part <= 0:
                continue
            offline = payment.provider == Payment.Provider.OFFLINE
            these, parts = allocation.split(parts, part)
            try:
                refund = payments.refund_payment(
                    payment,
                    part,
                    reason,
                    actor,
                    idempotency_key=f"aftersale-{locked.pk}-{locked.refund_attempt}-{payment.pk}",
                    reference=reference if offline else "",
                    refund_for=allocation.as_refund_for(these, claim=f"aftersale:{locked.pk}"),
                )
            except payments.PaymentError as exc:
                raise ValidationError({"refund": [exc.message]}) from exc
            locked.refunds.add(refund)
            left -= part
        if left > 0:
            raise ValidationError(
                {
                    "refund_amount": [
                        _("The order's payments have only %(refundable)s left to refund.")
                        % {"refundable": format_money(locked.refund_amount - left, order.currency)}
                    ]
                }
            )
        before_shipment = order.status in (O.PAID, O.READY_FOR_PICKUP) and order.shipped_at is None
        if locked.kind == AfterSale.Kind.REFUND_ONLY and before_shipment:
            _return_stock(locked)
            locked.stock_returned = True
        _move(locked, A.REFUNDED, actor, reference, refunded_at=timezone.now())
        if not locked.refunds.filter(status=Refund.Status.PENDING).exists():
            _close_if_all_refunded(order, actor)  # else once the money is actually back
        events.publish(events.aftersale_closed, aftersale=locked, outcome="refunded")
    return locked


def on_refund_succeeded(refund: Refund) -> None:
    """Money of an after-sale went back: close the order if every unit is now refunded."""
    for aftersale in AfterSale.objects.filter(refunds=refund, status=A.REFUNDED):
        with transaction.atomic():
            order, locked = _locked(aftersale)
            # (a failed refund was superseded by a later attempt; only pending ones wait)
            if locked.status == A.REFUNDED and not locked.refunds.filter(status=Refund.Status.PENDING).exists():
                _close_if_all_refunded(order, "system")


def on_refund_failed(refund: Refund) -> None:
    """The provider refused an after-sale's refund: the after-sale goes back to where the
    merchant can refund it again (a new attempt, not the failed refund), and says why."""
    for aftersale in AfterSale.objects.filter(refunds=refund, status=A.REFUNDED):
        with transaction.atomic():
            _order, locked = _locked(aftersale)
            if locked.status != A.REFUNDED:
                continue
            back = A.RECEIVED if locked.kind == AfterSale.Kind.RETURN_REFUND else A.APPROVED
            locked.refund_attempt += 1
            _move(
                locked,
                back,
                "system",
                _("Refund failed: %(reason)s") % {"reason": refund.failure_message},
                refunded_at=None,
                refund_attempt=locked.refund_attempt,
            )


def _close_if_all_refunded(order: Order, actor: str) -> None:
    """Every unit of every line refunded (by any path), with no refund still pending."""
    everything = all(line.refunded_quantity >= line.quantity for line in order.lines.all())
    pending = Refund.objects.filter(payment__order=order, status=Refund.Status.PENDING).exists()
    if everything and not pending and order.status in orders.TRANSITIONS["close"][0]:
        orders.order_close(order, actor=actor, note="refunded in full by after-sales")


def aftersale_refund_sent(aftersale: AfterSale, *, refund: Any, reference: Any, actor: str) -> Refund:
    """The merchant sent a pending offline refund of this after-sale back: how."""
    found = aftersale.refunds.filter(
        pk=as_id(refund) or 0, status=Refund.Status.PENDING, payment__provider=Payment.Provider.OFFLINE
    ).first()
    if found is None:
        raise ValidationError({"refund": [_("Choose a pending offline refund of this after-sale.")]})
    with transaction.atomic():
        sent = payments.offline_refund_sent(found, reference=str(reference or ""), actor=actor)
        on_refund_succeeded(sent)  # (also run after commit by the order_refunded event; idempotent)
    return sent


# --- reasons ---------------------------------------------------------------------------
def reason_save(data: dict[str, Any], reason: AfterSaleReason | None = None) -> AfterSaleReason:
    """Create (``reason`` None) or update a reason: {name, position, is_active}."""
    name = _text(data.get("name"), "name", 60, required=True)
    position = data.get("position", reason.position if reason else 0)
    if isinstance(position, str) and position.strip().isascii() and position.strip().isdigit():
        position = int(position.strip())
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 1_000_000:
        raise ValidationError({"position": [_("Enter a whole number, 0 or more.")]})
    is_active = data.get("is_active", reason.is_active if reason else True)
    if not isinstance(is_active, bool):
        raise ValidationError({"is_active": [_("Enter true or false.")]})
    with transaction.atomic():
        if reason is None:
            return AfterSaleReason.objects.create(name=name, position=position, is_active=is_active)
        AfterSaleReason.objects.filter(pk=reason.pk).update(name=name, position=position, is_active=is_active)
        return AfterSaleReason.objects.get(pk=reason.pk)
