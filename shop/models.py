"""Shop-wide settings of the commerce core (one row per shop schema)."""

from __future__ import annotations

import copy

from django.db import models
from django.utils.translation import gettext_lazy as _


class ShopSettings(models.Model):
    class LatePayment(models.TextChoices):
        REFUND = "refund", _("Refund it automatically")
        REVIVE = "revive", _("Revive the order if stock allows, else refund")

    unpaid_timeout_minutes = models.PositiveIntegerField(_("unpaid orders cancel after (minutes)"), default=30)
    auto_confirm_days = models.PositiveIntegerField(_("receipt confirmed automatically after (days)"), default=10)
    after_sales_days = models.PositiveIntegerField(_("after-sales window (days after delivery)"), default=7)
    late_payment = models.CharField(
        _("a payment arriving after cancellation"),
        max_length=16,
        choices=LatePayment.choices,
        default=LatePayment.REFUND,
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("shop settings")
        verbose_name_plural = _("shop settings")

    def __str__(self) -> str:
        return "shop settings"

    @classmethod
    def current(cls) -> ShopSettings:
        settings, _created = cls.objects.get_or_create(pk=1)
        return settings

    @classmethod
    def cached(cls) -> ShopSettings:
        """The settings to read (a copy; change them through ``current()``): from the
        process's memo of the shop's configuration, no query while it is current. Any save
        announces the change to every process (``ShopConfig.ready``)."""
        from platform_core.localcache import memo, shop_scope

        return copy.copy(memo.get(shop_scope(), "shop.settings", cls.current))
