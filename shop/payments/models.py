"""Payments of shop orders (offline, confirmed by the merchant; or Stripe PaymentIntents),
their refunds, the shop's payment settings, and the Stripe events received for the shop.

Money is integer minor units (fen). ``Payment.refunded_amount`` only ever moves through a
guarded SQL update, and a check constraint keeps it between 0 and the amount paid."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class PaymentSettings(models.Model):
    """One row per shop."""

    offline_enabled = models.BooleanField(_("accept offline payments"), default=True)
    offline_instructions = models.TextField(
        _("offline payment instructions"),
        blank=True,
        help_text=_("Shown to buyers who pay offline: bank transfer details, or pay at pickup."),
    )
    # The merchant's connected Stripe account: card payments go there, less the platform's fee.
    stripe_account_id = models.CharField(_("connected Stripe account"), max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("payment settings")
        verbose_name_plural = _("payment settings")

    def __str__(self) -> str:
        return "payment settings"

    @classmethod
    def current(cls) -> PaymentSettings:
        found, _created = cls.objects.get_or_create(pk=1)
        return found


class Payment(models.Model):
    class Provider(models.TextChoices):
        OFFLINE = "offline", _("Offline (confirmed by the merchant)")
        STRIPE = "stripe", _("Card (Stripe)")
        BALANCE = "balance", _("Shop balance")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(_("provider"), max_length=10, choices=Provider.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    amount = models.PositiveIntegerField(_("amount"))
    currency = models.CharField(max_length=3, default="CNY")
    refunded_amount = models.PositiveIntegerField(_("refunded"), default=0)
    # False for money that never paid for the order (a second payment of a paid order, a
    # payment after the order was cancelled, a wrong amount): refunded automatically, its
    # refunds are for nothing of the order and take no commission back
    pays_order = models.BooleanField(_("pays the order"), default=True)
    # Stripe: the PaymentIntent id; offline: empty (the merchant's reference is kept apart).
    external_id = models.CharField(max_length=255, blank=True)
    client_secret = models.CharField(max_length=255, blank=True)
    # The Idempotency-Key sent to Stripe when the PaymentIntent was created.
    idempotency_key = models.CharField(max_length=120, blank=True)
    reference = models.CharField(_("reference"), max_length=120, blank=True)
    # Connect destination charge: the merchant's account and the platform's fee.
    destination = models.CharField(max_length=64, blank=True)
    application_fee = models.PositiveIntegerField(default=0)
    failure_message = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(fields=["external_id"], condition=~Q(external_id=""), name="payment_external_uniq"),
            # one open PaymentIntent per order: retries reuse it
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(provider="stripe") & (Q(status="pending") | Q(status="failed")),
                name="payment_one_open_intent_per_order",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refunds_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.amount} ({self.status})"

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded_amount if self.status == self.Status.SUCCEEDED else 0


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveIntegerField(_("amount"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    # Stripe: the refund id.
    external_id = models.CharField(max_length=255, blank=True)
    # Offline: the merchant's reference of the money sent back (transfer number, "cash").
    reference = models.CharField(_("reference"), max_length=120, blank=True)
    # A client's retry with the same key returns this refund, never a second one.
    idempotency_key = models.CharField(max_length=120, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=1), name="refund_amount_positive"),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="refund_idempotency_key_uniq"
            ),
            models.UniqueConstraint(fields=["external_id"], condition=~Q(external_id=""), name="refund_external_uniq"),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} ({self.status})"


class RefundLine(models.Model):
    """What part of a refund was for: some of an order line (its amount and units), the
    shipping fee, or nothing of the order (``surplus``: money that never paid for it).
    A refund's parts sum to its amount; written with the refund, never changed (a failed
    refund keeps them, and gives their amounts back to the lines)."""

    class Kind(models.TextChoices):
        GOODS = "goods", _("Goods")
        SHIPPING = "shipping", _("Shipping")
        SURPLUS = "surplus", _("Not for the order (a duplicate or late payment)")

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="parts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, null=True, blank=True, related_name="refund_parts"
    )
    amount = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="goods") & Q(order_line__isnull=False))
                | (~Q(kind="goods") & Q(order_line__isnull=True) & Q(quantity=0)),
                name="refund_line_goods_have_a_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} of refund {self.refund_id}"


class PaymentEvent(models.Model):
    """A Stripe event about one of this shop's payments, recorded once by id; processing
    (by a task that re-reads the PaymentIntent) sets ``processed_at`` with its effect."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payment_intent = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [models.Index(fields=["processed_at", "received_at"], name="payment_event_pending")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
