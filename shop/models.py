"""Shop-wide settings of the commerce core (one row per shop schema)."""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
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


class StaffGrant(models.Model):
    """A power the owner gives one staff member beyond console access. ``theme_code``:
    edit and publish the theme's code (Liquid overrides, the shop's own assets) — code
    that runs on the storefront, on the console's origin, so owner-level unless granted."""

    class Power(models.TextChoices):
        THEME_CODE = "theme_code", _("Edit and publish the theme's code")

    # No database constraint and no cascade from User: users live in the public schema too
    # (operators), where this table does not exist, so deleting one must not look here. A
    # removed staff member's grant stays behind inert (user ids are never reused).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    power = models.CharField(max_length=30, choices=Power.choices)
    granted_by = models.CharField(max_length=120, blank=True)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "power"], name="staff_grant_unique")]
        verbose_name = _("staff permission")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.power}"

    @classmethod
    def holders(cls, power: str) -> set[int]:
        return set(cls.objects.filter(power=power).values_list("user_id", flat=True))

    @classmethod
    def change(cls, actor: Any, member: Any, power: str, allowed: bool) -> None:
        """The owner gives ``member`` the ``power`` (or takes it back)."""
        if not getattr(actor, "is_owner", False):
            raise PermissionDenied(_("Only the shop's owner can change who may edit the theme's code."))
        if member.is_owner:
            raise ValidationError({"can_edit_theme_code": [_("The owner can always edit the theme's code.")]})
        if not member.is_staff:
            raise ValidationError({"can_edit_theme_code": [_("Only staff can be allowed to edit the theme's code.")]})
        with transaction.atomic():
            if allowed:
                cls.objects.get_or_create(user=member, power=power, defaults={"granted_by": f"staff:{actor.pk}"})
            else:
                cls.objects.filter(user=member, power=power).delete()


def can_edit_theme_code(user: Any) -> bool:
    """The owner, or an active staff member the owner granted the theme-code power."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not (user.is_staff and user.is_active):
        return False
    if user.is_owner:
        return True
    return StaffGrant.objects.filter(user_id=user.pk, power=StaffGrant.Power.THEME_CODE).exists()
