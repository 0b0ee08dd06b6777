"""The guarded writes behind payments and refunds, shared by the providers and the
services: each runs in one transaction with the rows it depends on locked (always the
order before its payment), and is safe to retry.

* A refund is *reserved* first: ``refunded_amount`` grows by a conditional UPDATE that
  only matches while the payment still has that much left (never read then written), in
  the transaction that creates the refund row. A provider that fails gives it back.
* A PaymentIntent's state, as Stripe has it now, is applied to its payment: one effect
  per payment whatever the number and order of the events that led there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core import outbox
from platform_core.money import format_money
from platform_core.tenancy import current_schema
from shop import events
from shop.orders import services as orders
from shop.orders.models import Order
from shop.payments import allocation
from shop.payments.allocation import RefundFor
from shop.payments.models import Payment, Refund

log = logging.getLogger(__name__)
P, R = Payment.Status, Refund.Status
OPEN = [P.PENDING, P.FAILED]


def publish(task: Any, *args: Any) -> None:
    """Run ``task`` once the current transaction commits, in the shop's schema as it is now,
    through the transactional outbox (recorded in this transaction: never lost to a broker
    outage)."""
    outbox.enqueue(task, *args)


def stripe_key(name: str) -> str:
    """An idempotency key for Stripe. Keys are per Stripe account, i.e. shared by every
    shop of the platform, while ids are per shop schema: the schema is part of the key."""
    return f"{current_schema()}:{name}"


def nothing_to_pay(order: Order) -> ValidationError:
    return ValidationError(
        {"status": [_("This order is %(status)s: there is nothing to pay.") % {"status": order.get_status_display()}]}
    )


# --- refunds ------------------------------------------------------------------------------
def take_refundable(payment_pk: int, amount: int) -> bool:
    """Add ``amount`` to what is refunded of a succeeded payment, only if it still fits."""
    return bool(
        Payment.objects.filter(pk=payment_pk, status=P.SUCCEEDED, refunded_amount__lte=F("amount") - amount).update(
            refunded_amount=F("refunded_amount") + amount, updated_at=timezone.now()
        )
    )


def _check_refund(amount: Any, reason: str, idempotency_key: str | None) -> None:
    errors: dict[str, list[str]] = {}
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        errors["amount"] = [_("Enter the amount to refund, in fen, at least 1.")]
    if len(reason) > 200:
        errors["reason"] = [_("Use at most 200 characters.")]
    if idempotency_key is not None and not 8 <= len(idempotency_key) <= 80:
        errors["idempotency_key"] = [_("Use 8 to 80 characters.")]
    if errors:
        raise ValidationError(errors)


def reserve_refund(
    payment: Payment,
    *,
    amount: int,
    reason: str,
    actor: str,
    idempotency_key: str | None = None,
    reference: str = "",
    succeeded: bool = False,
    refund_for: RefundFor | None = None,
) -> tuple[Refund, bool]:
    """Reserve ``amount`` of ``payment`` for a refund and record it (pending, or succeeded
    for money the merchant already sent back), with what it is for, per order line
    (``allocation``: ``refund_for``, or by default an amount for the goods by the rule;
    nothing of the order for a payment that never paid for it). Returns (refund,
    created); a retry with the same idempotency key returns the first refund. Raises
    ValidationError when the payment has less than ``amount`` left to refund, or the
    order less than what the refund is said to be for."""
    reason = (reason or "").strip()
    _check_refund(amount, reason, idempotency_key)
    if idempotency_key:
        found = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if found is not None:
            return _same_refund(found, payment, amount)
    try:
        with transaction.atomic():
            Order.objects.select_for_update().get(pk=payment.order_id)  # the order first, then its payment
            if not take_refundable(payment.pk, amount):
                current = Payment.objects.get(pk=payment.pk)
                if current.status != P.SUCCEEDED:
                    raise ValidationError({"payment": [_("Only a payment that succeeded can be refunded.")]})
                raise ValidationError(
                    {
                        "amount": [
                            _("At most %(left)s of this payment can still be refunded.")
                            % {"left": format_money(current.refundable, current.currency)}
                        ]
                    }
                )
            refund = Refund.objects.create(
                payment=payment,
                amount=amount,
                reason=reason,
                actor=actor[:120],
                idempotency_key=idempotency_key or "",
                reference=reference.strip()[:120],
                status=R.SUCCEEDED if succeeded else R.PENDING,
            )
            current = Payment.objects.get(pk=payment.pk)
            allocation.record(refund, allocation.plan(current, amount, refund_for))
            if succeeded:
                _refunded(refund)
    except IntegrityError:
        # the same key, committed by a concurrent retry meanwhile: that one is the refund
        found = Refund.objects.filter(idempotency_key=idempotency_key or "-").first()
        if found is None:
            raise
        return _same_refund(found, payment, amount)
    return refund, True


def _same_refund(found: Refund, payment: Payment, amount: int) -> tuple[Refund, bool]:
    if found.payment_id != payment.pk or found.amount != amount:
        raise ValidationError({"idempotency_key": [_("This key was used for another refund.")]})
    return found, False


def _refunded(refund: Refund) -> None:
    order = Order.objects.get(pk=Payment.objects.values_list("order_id", flat=True).get(pk=refund.payment_id))
    events.publish(events.order_refunded, order=order, refund=refund)


def refund_succeeded(refund_pk: int, *, external_id: str = "", reference: str = "") -> Refund:
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_pk)
        if refund.status != R.PENDING:
            return refund
        refund.status = R.SUCCEEDED
        refund.external_id = external_id or refund.external_id
        refund.reference = reference.strip()[:120] or refund.reference
        refund.failure_message = ""
        refund.save()
        _refunded(refund)
    return refund


def refund_failed(refund_pk: int, message: str) -> Refund:
    """The provider refused: the reserved amount becomes refundable again."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_pk)
        if refund.status != R.PENDING:
            return refund
        refund.status = R.FAILED
        refund.failure_message = message[:255]
        refund.save()
        allocation.release(refund)
        Payment.objects.filter(pk=refund.payment_id).update(
            refunded_amount=F("refunded_amount") - refund.amount, updated_at=timezone.now()
        )
        events.publish(events.refund_failed, refund=refund)
    return refund


# --- Stripe payments ------------------------------------------------------------------------
def open_stripe_payment(order: Order, *, actor: str, destination: str, fee_bps: int) -> Payment:
    """The order's open card payment (one PaymentIntent per order, reused on retries),
    made on first use; refused unless the order awaits payment."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != Order.Status.UNPAID:
            raise nothing_to_pay(locked)
        payment = Payment.objects.filter(order=locked, provider=Payment.Provider.STRIPE, status__in=OPEN).first()
        if payment is not None:
            if payment.status == P.FAILED:  # the buyer tries again (another card) on the same intent
                payment.status, payment.failure_message = P.PENDING, ""
                payment.save(update_fields=["status", "failure_message", "updated_at"])
            return payment
        attempt = Payment.objects.filter(order=locked, provider=Payment.Provider.STRIPE).count() + 1
        key = f"order-{locked.pk}-pi" if attempt == 1 else f"order-{locked.pk}-pi-{attempt}"
        return Payment.objects.create(
            order=locked,
            provider=Payment.Provider.STRIPE,
            amount=locked.payable,
            currency=locked.currency,
            idempotency_key=stripe_key(key),
            destination=destination,
            application_fee=locked.payable * fee_bps // 10000 if destination else 0,
            actor=actor[:120],
        )


def intent_attached(payment: Payment, intent: dict[str, Any]) -> Payment:
    """Remember the PaymentIntent made for ``payment`` (a concurrent retry got the same one
    from Stripe, by the idempotency key)."""
    Payment.objects.filter(pk=payment.pk, external_id="").update(
        external_id=intent["id"], client_secret=intent.get("client_secret") or "", updated_at=timezone.now()
    )
    return Payment.objects.get(pk=payment.pk)


def apply_intent(payment_pk: int, intent: dict[str, Any], *, start_refund: Callable[[Refund], None]) -> str:
    """Bring the payment in line with its PaymentIntent as Stripe has it now. A success
    marks the order paid; money that cannot pay the order (it was cancelled and is not
    revived, or another payment paid it first) is refunded at once: ``start_refund`` is
    handed that refund, and sends it once this commits. Returns what happened."""
    with transaction.atomic():
        order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_pk)
        Order.objects.select_for_update().get(pk=order_id)  # the order first, then its payment
        payment = Payment.objects.select_for_update().select_related("order").get(pk=payment_pk)
        status = str(intent.get("status") or "")
        if status == "succeeded":
            if payment.status == P.SUCCEEDED:
                return "already applied"
            received = int(intent.get("amount_received", intent["amount"]))
            payment.status, payment.amount, payment.succeeded_at = P.SUCCEEDED, received, timezone.now()
            payment.client_secret, payment.failure_message = "", ""
            payment.save()
            try:
                order, outcome = orders.order_mark_paid(
                    payment.order, amount=received, actor="stripe", reference=str(intent["id"])
                )
            except ValidationError:
                order, outcome = payment.order, "amount_mismatch"
            if outcome in ("paid", "revived"):
                return f"payment succeeded: order {outcome}"
            if outcome == "already_paid" and getattr(order, "paid_reference", None) == intent["id"]:
                return "payment succeeded: the order was already paid by it"
            # the money cannot pay the order: it goes back at once, never lost (and being for
            # nothing of the order, its refund takes nothing of the goods' figures)
            payment.pays_order = False
            payment.save(update_fields=["pays_order", "updated_at"])
            if outcome == "refund":
                reason = _("Paid after the order was cancelled: refunded automatically.")
            elif outcome == "amount_mismatch":
                reason = _("The amount did not match the order: refunded automatically.")
            else:  # "already_paid" / "duplicate_payment": another payment paid the order first
                reason = _("The order was already paid: refunded automatically.")
            refund, _created = reserve_refund(
                payment,
                amount=received,
                reason=str(reason),
                actor="system",
                idempotency_key=f"auto-refund-{payment.pk}",
            )
            start_refund(refund)  # (it publishes the sending once this commits)
            return f"payment succeeded: {outcome}, refund {refund.pk} started"
        if payment.status not in OPEN:
            return f"no change ({payment.status})"
        if status == "canceled":
            payment.status, payment.client_secret = P.CANCELLED, ""
            payment.save()
            return "payment cancelled"
        error = intent.get("last_payment_error") or {}
        if status == "requires_payment_method" and error:
            payment.status = P.FAILED
            payment.failure_message = str(error.get("message") or error.get("code") or "")[:255]
            payment.save()
            return "payment failed"
        return f"no change (intent {status})"
