"""Pickup stores (O2O): where shoppers collect their orders. A store is never deleted
(pickup orders and their sales point at it); it is deactivated instead, and only active
stores count against the tier's store limit."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from shop.stores.hours import closed_week


class Store(models.Model):
    name = models.CharField(_("name"), max_length=40)
    phone = models.CharField(_("phone"), max_length=20)
    province = models.CharField(_("province"), max_length=30)
    city = models.CharField(_("city"), max_length=30)
    district = models.CharField(_("district"), max_length=30)
    address = models.CharField(_("address"), max_length=120)
    # Degrees (WGS-84 or GCJ-02, as the merchant's map gives them), 6 places ≈ 0.1 m.
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    # {"mon": [{"open": "09:00", "close": "12:00"}, ...], ..., "sun": []}: [] = closed that day.
    # Local time of settings.TIME_ZONE; "24:00" closes at midnight. See shop.stores.hours.
    opening_hours = models.JSONField(_("opening hours"), default=closed_week)
    pickup_enabled = models.BooleanField(_("pickup enabled"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-is_active", "name", "id"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        constraints = [
            models.UniqueConstraint(Lower("name"), name="store_name_ci_uniq"),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__gte=-90, latitude__lte=90, longitude__gte=-180, longitude__lte=180),
                name="store_coordinates_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def full_address(self) -> str:
        return " ".join(part for part in (self.province, self.city, self.district, self.address) if part)
