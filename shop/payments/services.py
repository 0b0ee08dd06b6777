"""Payments: every write, each in one transaction with the rows it depends on locked.

* ``payment_start``: what the buyer's client needs to pay an unpaid order (a Stripe
  PaymentIntent's client secret, or the shop's offline instructions).
* ``offline_confirm``: the merchant received the money; the payment is recorded and the
  order marked paid together.
* ``refund_payment``: the refund primitive (after-sales calls it): never more than what
  was paid, idempotent by a client's key.
* Stripe webhooks arrive on the platform host (``webhook_receive``): the signature is
  verified on the raw body, the PaymentIntent's metadata names the shop, the event is
  recorded once by id in that shop's schema, and a task (``process_event``) re-reads the
  PaymentIntent from Stripe, before taking any lock, and applies it. Events may arrive
  twice and out of order: each payment takes one effect.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

from platform_core import stripe_gateway as gateway
from platform_core.tenancy import current_schema
from shop.models import ShopSettings
from shop.orders import services as orders
from shop.orders.models import Order
from shop.payments import records
from shop.payments.allocation import RefundFor
from shop.payments.models import Payment, PaymentEvent, Refund
from shop.payments.providers import BalanceProvider, PaymentError, StripeProvider, provider_for

log = logging.getLogger(__name__)
HANDLED_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"}
STALE_AFTER = timedelta(minutes=5)

__all__ = ["PaymentError", "WebhookRefused"]


class WebhookRefused(Exception):
    """The webhook is answered 400 and nothing is written."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- paying -------------------------------------------------------------------------------
def payment_start(order: Order, provider: Any, *, actor: str) -> dict[str, Any]:
    """Start paying ``order`` with ``provider`` ("stripe", "offline" or "balance": the
    member's shop balance pays it at once)."""
    found = provider_for(str(provider or ""))
    if order.status != Order.Status.UNPAID:
        raise records.nothing_to_pay(order)
    return found.start(order, actor=actor)


def offline_confirm(order: Order, *, amount: Any, actor: str, reference: str = "") -> Order:
    """The merchant confirms an offline payment (cash, bank transfer): the succeeded
    payment and the order's move to paid commit together, or neither does."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationError({"amount": [_("The amount received, in fen.")]})
    reference = (reference or "").strip()
    if len(reference) > 120:
        raise ValidationError({"reference": [_("Use at most 120 characters.")]})
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        revivable = (
            locked.status == Order.Status.CANCELLED
            and ShopSettings.current().late_payment == ShopSettings.LatePayment.REVIVE
        )
        if locked.status != Order.Status.UNPAID and not revivable:
            raise orders.TransitionRefused(locked, "pay")
        paid, outcome = orders.order_mark_paid(
            locked, amount=amount, actor=actor, reference=f"offline: {reference}" if reference else "offline"
        )
        if outcome not in ("paid", "revived"):  # a cancelled order whose stock is gone
            raise orders.TransitionRefused(paid, "pay")
        Payment.objects.create(
            order=paid,
            provider=Payment.Provider.OFFLINE,
            status=Payment.Status.SUCCEEDED,
            amount=amount,
            currency=paid.currency,
            reference=reference,
            actor=actor[:120],
            succeeded_at=timezone.now(),
        )
    return paid


# --- refunds ------------------------------------------------------------------------------
def refund_payment(
    payment: Payment,
    amount: Any,
    reason: str,
    actor: str,
    *,
    idempotency_key: str | None = None,
    reference: str = "",
    refund_for: RefundFor | None = None,
) -> Refund:
    """Refund ``amount`` (fen) of ``payment`` through its provider. Refunds of a payment
    never exceed what it paid (a guarded update, so concurrent refunds cannot overdraw it),
    nor any order line what it paid (``allocation``: ``refund_for`` says what the refund is
    for — lines and units, shipping, an amount for the goods by the rule, the default);
    a retry with the same ``idempotency_key`` returns the first refund. Stripe refunds are
    sent once this commits and stay pending until Stripe confirms; an offline refund is
    done when the merchant gives the ``reference`` of the money sent back."""
    return provider_for(payment.provider).refund(
        payment,
        amount,
        reason,
        actor=actor,
        idempotency_key=idempotency_key,
        reference=reference,
        refund_for=refund_for,
    )


def order_refund(
    order: Order,
    *,
    payment: Any = None,
    amount: int | None = None,
    lines: tuple[tuple[int, int, int | None], ...] = (),
    shipping: int = 0,
    reason: str,
    actor: str,
    idempotency_key: str | None = None,
    reference: str = "",
) -> Refund:
    """The merchant refunds from the order page, saying what for: units (and amounts) of
    lines and some of the shipping, or an ``amount`` for the goods, spread over the lines
    by the documented rule (the part beyond the goods is shipping). A payment that never
    paid for the order (a duplicate, a late payment) is refunded an ``amount`` for nothing
    of it. ``payment``: the id of one of the order's payments with money left to refund
    (the only one by default). Field errors: payment, amount, lines, shipping."""
    from shop.payments import selectors
    from shop.payments.allocation import RefundFor, what_for

    candidates = selectors.refundable_payments(order)
    chosen = payment
    found = next((p for p in candidates if p.pk == chosen), None) if chosen else None
    if found is None and not chosen and len(candidates) == 1:
        found = candidates[0]
    if found is None:
        raise ValidationError({"payment": [_("Choose a payment of this order that can still be refunded.")]})
    if amount is not None and (lines or shipping):
        raise ValidationError({"amount": [_("Give an amount for the goods, or lines and shipping: not both.")]})
    if isinstance(shipping, bool) or not isinstance(shipping, int) or shipping < 0:
        raise ValidationError({"shipping": [_("The shipping to refund, in fen, 0 or more.")]})
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 1):
        raise ValidationError({"amount": [_("Enter the amount to refund, in fen, at least 1.")]})
    spec: RefundFor | None
    if not found.pays_order:
        if amount is None:
            raise ValidationError(
                {"amount": [_("This payment never paid for the order: give the amount to give back.")]}
            )
        spec = None
        total = amount
    elif amount is not None:
        spec, total = RefundFor(goods=amount), amount
    else:
        spec = RefundFor(lines=lines, shipping=shipping)
        total = sum(part.amount for part in what_for(found, spec))
        if total < 1:
            raise ValidationError({"lines": [_("Choose what to refund: units of a line, an amount, or the shipping.")]})
    try:
        return refund_payment(
            found,
            total,
            reason,
            actor,
            idempotency_key=idempotency_key,
            reference=reference if found.provider == Payment.Provider.OFFLINE else "",
            refund_for=spec,
        )
    except PaymentError as exc:
        raise ValidationError({"refund": [exc.message]}) from exc


def offline_refund_sent(refund: Refund, *, reference: str, actor: str) -> Refund:
    """The merchant sent an offline refund's money back: record how."""
    reference = (reference or "").strip()
    if not reference or len(reference) > 120:
        raise ValidationError({"reference": [_("Enter the transfer number or a note (at most 120 characters).")]})
    if refund.payment.provider != Payment.Provider.OFFLINE:
        raise ValidationError({"refund": [_("Card refunds are sent by Stripe.")]})
    return records.refund_succeeded(refund.pk, reference=f"{reference} ({actor})"[:120])


def start_refund(refund: Refund) -> None:
    """Send a reserved Stripe refund once the current transaction commits."""
    from shop.payments.tasks import send_refund

    records.publish(send_refund, refund.pk)


def send_refund(refund_pk: int) -> str:
    refund = Refund.objects.select_related("payment").get(pk=refund_pk)
    if refund.status == Refund.Status.PENDING and refund.payment.provider == Payment.Provider.BALANCE:
        return BalanceProvider().send_refund(refund).status
    if refund.status != Refund.Status.PENDING or refund.payment.provider != Payment.Provider.STRIPE:
        return f"nothing to send ({refund.status})"
    return StripeProvider().send_refund(refund).status


# --- Stripe webhooks ------------------------------------------------------------------------
def webhook_receive(payload: bytes, signature: str) -> str:
    """Verify a Stripe event and record it, once, in the schema of the shop its
    PaymentIntent names. Returns "recorded", "duplicate", "requeued" (a retry of one whose
    processing has not finished) or "ignored" (an event that is not about a shop's payment,
    e.g. a subscription invoice's); raises WebhookRefused."""
    secret = settings.STRIPE_PAYMENTS_WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused("not_configured")
    try:
        event = gateway.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise WebhookRefused("invalid_signature") from exc
    data = event.to_dict()
    intent = (data.get("data") or {}).get("object") or {}
    if data.get("type") not in HANDLED_EVENTS or intent.get("object") != "payment_intent":
        return "ignored"
    schema = str((intent.get("metadata") or {}).get("tenant_schema") or "")
    if not schema:
        return "ignored"
    statuses = ["active", "suspended"]
    tenant = (
        get_tenant_model()
        .objects.filter(schema_name=schema, status__in=statuses)
        .exclude(schema_name=get_public_schema_name())
        .first()
    )
    if tenant is None:
        raise WebhookRefused("unknown_shop")
    with schema_context(tenant.schema_name), transaction.atomic():
        record, created = PaymentEvent.objects.get_or_create(
            event_id=str(data["id"]),
            defaults={"type": data["type"], "payment_intent": str(intent.get("id") or ""), "payload": data},
        )
        if created or record.processed_at is None:
            # new, or Stripe's retry of one whose processing has not finished (its task may
            # have been lost with a worker): queued (again); processing is idempotent
            records.publish("payments.process_event", record.event_id)
    if created:
        return "recorded"
    return "duplicate" if record.processed_at is not None else "requeued"


def process_event(event_id: str) -> str:
    """Apply one recorded event exactly once (in the shop's schema). The PaymentIntent is
    re-read from Stripe first; its state now, not the event's, is applied, with
    ``processed_at`` in the same transaction."""
    record = PaymentEvent.objects.filter(event_id=event_id).first()
    if record is None or record.processed_at is not None:
        return "already processed"
    payment = Payment.objects.filter(provider=Payment.Provider.STRIPE, external_id=record.payment_intent).first()
    intent = _d(gateway.v1().payment_intents.retrieve(record.payment_intent)) if payment else {}
    with transaction.atomic():
        record = PaymentEvent.objects.select_for_update().get(pk=record.pk)
        if record.processed_at is not None:
            return "already processed"
        if payment is None:
            outcome = "ignored: no payment of this shop has this intent"
        elif not _belongs_here(intent, payment):
            log.warning("payment intent %s does not match payment %s: ignored", record.payment_intent, payment.pk)
            outcome = "ignored: the intent names another shop or order"
        else:
            outcome = records.apply_intent(payment.pk, intent, start_refund=start_refund)
        record.processed_at = timezone.now()
        record.outcome = outcome[:255]
        record.save(update_fields=["processed_at", "outcome"])
    return outcome


def _belongs_here(intent: dict[str, Any], payment: Payment) -> bool:
    metadata = intent.get("metadata") or {}
    return metadata.get("tenant_schema") == current_schema() and metadata.get("order_id") == str(payment.order_id)


def _d(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


# --- cancelled orders, retries --------------------------------------------------------------
def cancel_open_intents(order_id: int, order_number: str) -> str:
    """An order was cancelled or paid: cancel its open PaymentIntent, so the buyer cannot
    pay it (again). A payment already under way makes Stripe refuse; it is then refunded
    when its success arrives (a payment is never lost). The order's number proves the
    task runs in the order's own shop."""
    if not Order.objects.filter(pk=order_id, number=order_number).exclude(status=Order.Status.UNPAID).exists():
        return "not a settled order of this shop"
    done = []
    for payment in Payment.objects.filter(
        order_id=order_id, provider=Payment.Provider.STRIPE, status__in=records.OPEN
    ).exclude(external_id=""):
        try:
            intent = _d(gateway.v1().payment_intents.cancel(payment.external_id))
        except gateway.InvalidRequestError:
            intent = _d(gateway.v1().payment_intents.retrieve(payment.external_id))
        done.append(records.apply_intent(payment.pk, intent, start_refund=start_refund))
    return "; ".join(done) or "no open intent"


def retry_stale(now: datetime | None = None) -> dict[str, int]:
    """Events whose processing was lost and Stripe refunds not yet confirmed are tried
    again (both idempotent). Run by beat in every shop."""
    from shop.payments.tasks import process_payment_event, send_refund

    before = (now or timezone.now()) - STALE_AFTER
    events = list(
        PaymentEvent.objects.filter(processed_at__isnull=True, received_at__lt=before).values_list(
            "event_id", flat=True
        )[:200]
    )
    refunds = list(
        Refund.objects.filter(
            status=Refund.Status.PENDING, payment__provider=Payment.Provider.STRIPE, created_at__lt=before
        ).values_list("pk", flat=True)[:200]
    )
    for event_id in events:
        records.publish(process_payment_event, event_id)
    for pk in refunds:
        records.publish(send_refund, pk)
    return {"events": len(events), "refunds": len(refunds)}
