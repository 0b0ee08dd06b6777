"""After-sales: a buyer asks for money back (refund only, or return and refund) for some
units of an order's lines; the merchant reviews it, the buyer ships a return, the merchant
confirms receipt, and the money goes back through the payment provider.

Amounts are fen. Each ``AfterSaleLine`` keeps what its units are worth: their share of
what the order line has left to refund (``shop.payments.allocation.unit_value``: what it
paid less what was refunded, by any path, and what other open requests hold; rounded
down, the last units getting the rest), so a line's refunds never exceed what it paid."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AfterSaleReason(models.Model):
    """The reasons a buyer chooses from: a list the shop edits."""

    name = models.CharField(_("name"), max_length=60)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("offered to buyers"), default=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("after-sales reason")
        verbose_name_plural = _("after-sales reasons")

    def __str__(self) -> str:
        return self.name


class AfterSale(models.Model):
    class Kind(models.TextChoices):
        REFUND_ONLY = "refund_only", _("Refund only")
        RETURN_REFUND = "return_refund", _("Return and refund")

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Awaiting review")
        APPROVED = "approved", _("Approved, awaiting refund")
        AWAITING_RETURN = "awaiting_return", _("Approved, awaiting the return")
        RETURNED = "returned", _("Return on its way")
        RECEIVED = "received", _("Return received, awaiting refund")
        REFUNDED = "refunded", _("Refunded")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled by the buyer")

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="aftersales")
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="aftersales")
    kind = models.CharField(_("kind"), max_length=15, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.REQUESTED)
    reason = models.ForeignKey(AfterSaleReason, on_delete=models.PROTECT, related_name="+", verbose_name=_("reason"))
    note = models.CharField(_("buyer's note"), max_length=200, blank=True)
    refund_amount = models.PositiveIntegerField(_("refund amount"))
    # part of refund_amount that is the order's shipping fee: paid back when, before anything
    # shipped, this request takes back every unit still in the order (goods only otherwise)
    shipping_refund = models.PositiveIntegerField(_("shipping refunded"), default=0)
    reject_reason = models.CharField(_("why it was rejected"), max_length=200, blank=True)
    carrier = models.CharField(_("return carrier"), max_length=40, blank=True)
    tracking_number = models.CharField(_("return tracking number"), max_length=60, blank=True)
    # units sold back into stock (refund before shipment, or a return received)
    stock_returned = models.BooleanField(default=False)
    # bumped when a refund of it failed, so the next attempt is a new refund, not the failed one
    refund_attempt = models.PositiveIntegerField(default=0)
    refunds = models.ManyToManyField("payments.Refund", related_name="aftersales", blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("after-sale")
        verbose_name_plural = _("after-sales")
        indexes = [
            models.Index(fields=["status", "-created_at"], name="aftersale_by_status"),
            models.Index(fields=["member", "-created_at"], name="aftersale_by_member"),
        ]

    def __str__(self) -> str:
        return f"after-sale {self.pk} of order {self.order_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


OPEN = [
    AfterSale.Status.REQUESTED,
    AfterSale.Status.APPROVED,
    AfterSale.Status.AWAITING_RETURN,
    AfterSale.Status.RETURNED,
    AfterSale.Status.RECEIVED,
]


class AfterSaleLine(models.Model):
    aftersale = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="aftersale_lines")
    quantity = models.PositiveIntegerField()
    amount = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="aftersale_line_quantity_positive"),
            models.UniqueConstraint(fields=["aftersale", "order_line"], name="aftersale_line_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × line {self.order_line_id}"


class AfterSaleLog(models.Model):
    """Append-only: every transition of an after-sale, who made it, when."""

    aftersale = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="log")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.CharField(max_length=120)
    note = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.aftersale_id}: {self.from_status} → {self.to_status}"

    @property
    def to_label(self) -> str:
        values = AfterSale.Status.values
        return str(AfterSale.Status(self.to_status).label) if self.to_status in values else self.to_status
