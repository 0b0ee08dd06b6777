"""Orders, their lines (what was paid for each) and their log of transitions."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Order(models.Model):
    class Status(models.TextChoices):
        UNPAID = "unpaid", _("Awaiting payment")
        PAID = "paid", _("Paid")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        READY_FOR_PICKUP = "ready_for_pickup", _("Ready for pickup")
        PICKED_UP = "picked_up", _("Picked up")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    class Fulfilment(models.TextChoices):
        DELIVERY = "delivery", _("Delivery")
        PICKUP = "pickup", _("Store pickup")

    number = models.CharField(_("order number"), max_length=24, unique=True)
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.UNPAID)
    fulfilment = models.CharField(_("fulfilment"), max_length=10, choices=Fulfilment.choices)
    currency = models.CharField(max_length=3, default="CNY")
    goods_total = models.PositiveIntegerField(_("goods total"))
    discount_total = models.PositiveIntegerField(_("discounts"), default=0)
    shipping_fee = models.PositiveIntegerField(_("shipping"), default=0)
    payable = models.PositiveIntegerField(_("payable"))
    amount_paid = models.PositiveIntegerField(_("amount paid"), default=0)
    # of ``shipping_fee``, refunded or on its way back (``shop.payments.allocation``)
    shipping_refunded = models.PositiveIntegerField(_("shipping refunded"), default=0)
    # the payment that paid it (a provider's id, "offline"): a repeat of it is no second payment
    paid_reference = models.CharField(max_length=120, blank=True)
    # delivery: a copy of the address at the time of the order
    address = models.JSONField(_("delivery address"), default=dict, blank=True)
    store_id_snapshot = models.PositiveIntegerField(null=True, blank=True)
    store = models.JSONField(_("pickup store"), default=dict, blank=True)
    pickup_code = models.CharField(max_length=12, blank=True)
    note = models.CharField(_("buyer's note"), max_length=200, blank=True)
    carrier = models.CharField(_("carrier"), max_length=40, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=60, blank=True)
    pay_by = models.DateTimeField(_("pay by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            models.Index(fields=["status", "pay_by"], name="order_unpaid_due"),
            models.Index(fields=["status", "shipped_at"], name="order_shipped_due"),
            models.Index(fields=["status", "delivered_at"], name="order_delivered_due"),
            models.Index(fields=["member", "-created_at"], name="order_by_member"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["pickup_code"], condition=~Q(pickup_code=""), name="order_pickup_code_uniq"
            ),
            models.CheckConstraint(
                condition=Q(shipping_refunded__lte=F("shipping_fee")), name="order_shipping_refunded_within_fee"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey("catalogue.Sku", on_delete=models.PROTECT, related_name="+")
    product_id_snapshot = models.PositiveIntegerField()
    product_name = models.CharField(max_length=120)
    sku_label = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.PositiveIntegerField()
    list_price = models.PositiveIntegerField(null=True, blank=True)
    activity_discount = models.PositiveIntegerField(default=0)
    promotion_share = models.PositiveIntegerField(default=0)
    coupon_share = models.PositiveIntegerField(default=0)
    # what the buyer paid for this line's goods: the commission base
    amount_paid = models.PositiveIntegerField()
    # what refunds gave back of this line, or are giving back (pending ones count: a line is
    # never refunded beyond what it paid): moved only by ``shop.payments.allocation``, by a
    # guarded UPDATE, with each refund's part recorded as a ``RefundLine``
    refunded_amount = models.PositiveIntegerField(_("refunded"), default=0)
    refunded_quantity = models.PositiveIntegerField(_("units refunded"), default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("amount_paid")), name="order_line_refunded_within_paid"
            ),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=F("quantity")), name="order_line_refunded_units_within_quantity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_name}"

    @property
    def refundable_amount(self) -> int:
        return self.amount_paid - self.refunded_amount

    @property
    def refundable_quantity(self) -> int:
        return self.quantity - self.refunded_quantity


class OrderLog(models.Model):
    """Append-only: every transition, who made it, when, from and to."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="log")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.CharField(max_length=120)  # "member:12", "staff:3", "system"
    note = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} → {self.to_status}"

    @property
    def from_label(self) -> str:
        return str(Order.Status(self.from_status).label) if self.from_status in Order.Status.values else "—"

    @property
    def to_label(self) -> str:
        return str(Order.Status(self.to_status).label) if self.to_status in Order.Status.values else self.to_status


class IdempotencyKey(models.Model):
    """A client's retry of the same request returns the first result, never a second order."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=30)
    key = models.CharField(max_length=80)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # what the first request asked for: the same key with another request is refused
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "scope", "key"], name="idempotency_key_uniq")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
