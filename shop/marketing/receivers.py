"""Coupons follow their order (locked → used when paid, back to unused when an unpaid
order is cancelled); a new member gets the shop's registration coupons."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from shop import events
from shop.marketing import groups, services
from shop.members.models import Member


@receiver(events.order_paid, dispatch_uid="marketing-coupon-used")
def coupon_used(sender: Any, order: Any, **kwargs: Any) -> None:
    services.order_paid(order)


@receiver(events.order_paid, dispatch_uid="marketing-group-paid")
def group_member_paid(sender: Any, order: Any, **kwargs: Any) -> None:
    groups.order_paid(order)  # (the expiry job counts a payment whose event was lost)


@receiver(events.order_cancelled, dispatch_uid="marketing-coupon-returned")
def coupon_returned(sender: Any, order: Any, **kwargs: Any) -> None:
    services.order_cancelled(order)


@receiver(events.order_cancelled, dispatch_uid="marketing-group-member-left")
def group_member_left(sender: Any, order: Any, **kwargs: Any) -> None:
    if order.paid_at is not None:
        groups.order_closed(order)


@receiver(post_save, sender=Member, dispatch_uid="marketing-registration-coupons")
def registration_coupons(sender: Any, instance: Member, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        services.coupons_on_registration(instance)
