"""Carts (members' and guests') and shipping templates."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Cart(models.Model):
    member = models.OneToOneField(
        "members.Member", on_delete=models.CASCADE, null=True, blank=True, related_name="cart"
    )
    # guests: a random token kept in a cookie (or sent by the app), merged at login
    guest_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(member__isnull=False) | Q(guest_token__isnull=False), name="cart_has_an_owner"
            )
        ]

    def __str__(self) -> str:
        return f"cart {self.pk}"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("catalogue.Sku", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    # the price the buyer saw when adding: checkout shows what changed since
    price_when_added = models.PositiveIntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "sku"], name="cart_item_uniq"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_item_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id}"


class ShippingTemplate(models.Model):
    """Delivery fees: a fee per order, a different fee (or none: not delivered) for listed
    provinces, and free delivery from a goods total. The shop's default applies."""

    name = models.CharField(_("name"), max_length=40)
    default_fee = models.PositiveIntegerField(_("fee (fen)"), default=0)
    free_over = models.PositiveIntegerField(_("free from goods total (fen)"), null=True, blank=True)
    # [{"provinces": ["新疆", "西藏"], "fee": 2000}, {"provinces": ["海外"], "fee": null}] (null: not delivered)
    rules = models.JSONField(_("regional rules"), default=list, blank=True)
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("shipping template")
        verbose_name_plural = _("shipping templates")
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_shipping")
        ]

    def __str__(self) -> str:
        return self.name
