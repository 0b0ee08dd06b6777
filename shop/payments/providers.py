"""Payment providers: one interface, two implementations.

* ``start(order)`` returns what the buyer's client needs to pay.
* ``refund(payment, amount, reason, …)`` records a refund (guarded so refunds never exceed
  what was paid) and sends the money back through the provider.

Offline: cash or bank transfer, confirmed by the merchant (``services.offline_confirm``);
refunds are recorded by the merchant with a reference. Stripe: one PaymentIntent per
order, reused on retries; a Connect destination charge to the merchant's account, less the
platform's fee, when the shop has connected one. Stripe is reached through
``platform_core.stripe_gateway`` (the SDK client, pointed at localstripe or a recording HTTP client in
tests). Balance: the member's shop balance (``shop.wallet``) pays the order at once, in
one transaction with the order locked; its refunds go back to the balance at once."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core import stripe_gateway as gateway
from platform_core.money import format_money
from platform_core.tenancy import current_schema
from shop.orders import services as orders
from shop.orders.models import Order
from shop.payments import records
from shop.payments.allocation import RefundFor
from shop.payments.models import Payment, PaymentSettings, Refund

log = logging.getLogger(__name__)


class PaymentError(Exception):
    """The provider could not do it now (Stripe unreachable, refused): ``message`` is for people."""

    def __init__(self, message: str, *, code: str = "payment_error") -> None:
        super().__init__(message)
        self.message, self.code = message, code


class Provider(Protocol):
    name: str

    def start(self, order: Order, *, actor: str) -> dict[str, Any]: ...

    def refund(
        self,
        payment: Payment,
        amount: int,
        reason: str,
        *,
        actor: str,
        idempotency_key: str | None = None,
        reference: str = "",
        refund_for: RefundFor | None = None,
    ) -> Refund: ...


def _d(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class OfflineProvider:
    name: str = "offline"

    def start(self, order: Order, *, actor: str) -> dict[str, Any]:
        shop = PaymentSettings.current()
        if not shop.offline_enabled:
            raise ValidationError({"provider": [_("This shop does not take offline payments.")]})
        return {
            "provider": self.name,
            "provider_label": _("Offline payment, confirmed by the merchant"),
            "instructions": shop.offline_instructions
            or _("Pay by bank transfer or when you pick up your order; the shop confirms your payment."),
            "amount": order.payable,
            "currency": order.currency,
            "order_number": order.number,
        }

    def refund(
        self,
        payment: Payment,
        amount: int,
        reason: str,
        *,
        actor: str,
        idempotency_key: str | None = None,
        reference: str = "",
        refund_for: RefundFor | None = None,
    ) -> Refund:
        """With a reference the money is already back with the buyer (succeeded); without
        one the refund waits for the merchant to send it and record the reference."""
        refund, _created = records.reserve_refund(
            payment,
            amount=amount,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key,
            reference=reference,
            succeeded=bool(reference.strip()),
            refund_for=refund_for,
        )
        return refund


class StripeProvider:
    name: str = "stripe"
    REUSABLE = {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}

    def start(self, order: Order, *, actor: str) -> dict[str, Any]:
        if not gateway.stripe_enabled():
            raise ValidationError({"provider": [_("Card payments are not available in this shop.")]})
        if order.payable < 1:
            raise ValidationError({"provider": [_("There is nothing to pay by card.")]})
        shop = PaymentSettings.current()
        for _attempt in range(3):
            payment = records.open_stripe_payment(
                order, actor=actor, destination=shop.stripe_account_id, fee_bps=settings.PAYMENTS_PLATFORM_FEE_BPS
            )
            try:
                intent = self._intent(payment, order)
            except gateway.StripeError as exc:
                log.warning("stripe refused a payment intent for order %s: %s", order.pk, exc)
                raise PaymentError(
                    _("Card payment is not available just now. Please try again."), code="stripe_unavailable"
                ) from exc
            status = intent.get("status")
            if status in self.REUSABLE:
                return {
                    "provider": self.name,
                    "payment": payment.pk,
                    "payment_intent": intent["id"],
                    "client_secret": intent.get("client_secret") or payment.client_secret,
                    "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                    "status": status,
                    "amount": payment.amount,
                    "currency": payment.currency,
                }
            # canceled (a new intent is made on the next round) or succeeded (applied now)
            from shop.payments.services import start_refund

            records.apply_intent(payment.pk, intent, start_refund=start_refund)
            if status == "succeeded":
                raise ValidationError({"status": [_("This order has just been paid.")]})
        raise PaymentError(_("Card payment is not available just now. Please try again."), code="stripe_unavailable")

    def _intent(self, payment: Payment, order: Order) -> dict[str, Any]:
        v1 = gateway.v1()
        if payment.external_id:
            return _d(v1.payment_intents.retrieve(payment.external_id))
        params: dict[str, Any] = {
            "amount": payment.amount,
            "currency": payment.currency.lower(),
            "payment_method_types": ["card"],
            "metadata": {"tenant_schema": current_schema(), "order_id": str(order.pk), "order_number": order.number},
        }
        if payment.destination:
            params["transfer_data"] = {"destination": payment.destination}
            if payment.application_fee:
                params["application_fee_amount"] = payment.application_fee
        intent = _d(v1.payment_intents.create(params=params, options={"idempotency_key": payment.idempotency_key}))
        records.intent_attached(payment, intent)
        return intent

    def refund(
        self,
        payment: Payment,
        amount: int,
        reason: str,
        *,
        actor: str,
        idempotency_key: str | None = None,
        reference: str = "",
        refund_for: RefundFor | None = None,
    ) -> Refund:
        """Reserve the refund now; Stripe is asked once the reservation has committed (a
        task, so a caller's rolled-back transaction never leaves money refunded unrecorded)."""
        refund, created = records.reserve_refund(
            payment,
            amount=amount,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key,
            refund_for=refund_for,
        )
        if created:
            from shop.payments.services import start_refund

            start_refund(refund)
        return refund

    def send_refund(self, refund: Refund) -> Refund:
        """Ask Stripe for a reserved refund (idempotent: its key is the refund's id)."""
        refund = Refund.objects.select_related("payment__order").get(pk=refund.pk)
        if refund.status != Refund.Status.PENDING:
            return refund
        payment = refund.payment
        params: dict[str, Any] = {
            "payment_intent": payment.external_id,
            "amount": refund.amount,
            "metadata": {
                "tenant_schema": current_schema(),
                "order_id": str(payment.order_id),
                "refund_id": str(refund.pk),
                "reason": refund.reason[:500],
            },
        }
        if payment.destination:
            # the merchant's account gives the money back, and the platform its fee
            params["reverse_transfer"] = True
            params["refund_application_fee"] = True
        try:
            if refund.external_id:  # asked before and still pending there: read it, never ask twice
                sent = _d(gateway.v1().refunds.retrieve(refund.external_id))
            else:
                sent = _d(
                    gateway.v1().refunds.create(
                        params=params, options={"idempotency_key": records.stripe_key(f"refund-{refund.pk}")}
                    )
                )
        except (gateway.InvalidRequestError, gateway.CardError) as exc:
            log.warning("stripe refused refund %s: %s", refund.pk, exc)
            return records.refund_failed(refund.pk, getattr(exc, "user_message", None) or str(exc))
        status = sent.get("status")
        if status == "succeeded":
            return records.refund_succeeded(refund.pk, external_id=str(sent["id"]))
        if status in ("failed", "canceled"):
            return records.refund_failed(refund.pk, str(sent.get("failure_reason") or status))
        Refund.objects.filter(pk=refund.pk, external_id="").update(external_id=str(sent["id"]))
        refund.refresh_from_db()
        return refund  # pending at Stripe: the periodic retry asks again with the same key


class BalanceProvider:
    """The member's shop balance (店铺余额). ``start`` pays the order there and then: the
    order locked, the balance decreased by a guarded SQL update (never read then written),
    the succeeded payment recorded and the order marked paid, all in one transaction, or
    nothing (a balance that does not cover the order is a field error on ``provider``).
    Refunds go back to the balance, keyed by the refund, as they are recorded."""

    name: str = "balance"

    def start(self, order: Order, *, actor: str) -> dict[str, Any]:
        from shop.wallet import services as wallet

        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)  # the order first, then the balance
            if locked.status != Order.Status.UNPAID:
                raise records.nothing_to_pay(locked)
            amount = locked.payable
            if amount < 1:
                raise ValidationError({"provider": [_("There is nothing to pay from the shop balance.")]})
            try:
                wallet.debit(
                    locked.member_id,
                    amount,
                    kind=wallet.Kind.SPEND_ORDER,
                    reference=f"order-{locked.pk}",
                    note=locked.number,
                )
            except wallet.InsufficientBalance:
                have = wallet.balance(locked.member_id)
                raise ValidationError(
                    {
                        "provider": [
                            _("Your shop balance (%(balance)s) does not cover %(amount)s.")
                            % {
                                "balance": format_money(have, locked.currency),
                                "amount": format_money(amount, locked.currency),
                            }
                        ]
                    }
                ) from None
            payment = Payment.objects.create(
                order=locked,
                provider=Payment.Provider.BALANCE,
                status=Payment.Status.SUCCEEDED,
                amount=amount,
                currency=locked.currency,
                actor=actor[:120],
                succeeded_at=timezone.now(),
            )
            paid, outcome = orders.order_mark_paid(
                locked, amount=amount, actor=actor, reference=f"balance: {payment.pk}"
            )
            if outcome != "paid":  # (cannot happen: the order is locked and unpaid)
                raise records.nothing_to_pay(paid)
        return {
            "provider": self.name,
            "payment": payment.pk,
            "status": payment.status,
            "amount": amount,
            "currency": payment.currency,
            "order_number": paid.number,
            "balance": wallet.balance(locked.member_id),
        }

    def refund(
        self,
        payment: Payment,
        amount: int,
        reason: str,
        *,
        actor: str,
        idempotency_key: str | None = None,
        reference: str = "",
        refund_for: RefundFor | None = None,
    ) -> Refund:
        """Reserve the refund and put it back on the member's balance in one transaction."""
        with transaction.atomic():
            refund, _created = records.reserve_refund(
                payment,
                amount=amount,
                reason=reason,
                actor=actor,
                idempotency_key=idempotency_key,
                refund_for=refund_for,
            )
            return self.send_refund(refund)

    def send_refund(self, refund: Refund) -> Refund:
        """Credit a reserved refund to the member's balance and mark it succeeded, together
        (idempotent: the balance entry is keyed by the refund)."""
        from shop.wallet import services as wallet

        with transaction.atomic():
            refund = Refund.objects.select_for_update().select_related("payment__order").get(pk=refund.pk)
            if refund.status != Refund.Status.PENDING:
                return refund
            order = refund.payment.order
            wallet.credit(
                order.member_id,
                refund.amount,
                kind=wallet.Kind.REFUND_ORDER,
                reference=f"refund-{refund.pk}",
                note=order.number,
            )
            return records.refund_succeeded(refund.pk, reference="balance")


PROVIDERS: dict[str, Provider] = {
    "offline": OfflineProvider(),
    "stripe": StripeProvider(),
    "balance": BalanceProvider(),
}


def provider_for(name: str) -> Provider:
    found = PROVIDERS.get(name)
    if found is None:
        raise ValidationError({"provider": [_("Choose “stripe” (card), “offline” or “balance” (shop balance).")]})
    return found
