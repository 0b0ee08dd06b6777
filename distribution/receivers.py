"""Subscriptions to the commerce core's events (sent after commit, in the shop's schema;
each receiver is idempotent; the commission of a paid order goes through the outbox), to
member logins, and to coupons claimed by a distributor's code."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection
from django.db.models import Sum
from django.dispatch import receiver

from distribution import commission, grades, services, settlement
from distribution.models import BindingSource, DistributionSettings
from platform_core import outbox
from platform_core.tenancy import current_schema
from shop import events
from shop.marketing.services import distributor_code_claimed
from shop.members.signals import member_logged_in

log = logging.getLogger(__name__)
DEVICE_COOKIE = "fx_did"
Q_ = DistributionSettings.Qualification
T = DistributionSettings.Trigger


def current_tenant() -> Any:
    """The shop whose schema the connection is in (a real Tenant: its tier and overrides
    decide the levels; ``schema_context`` only carries a stand-in)."""
    from django_tenants.utils import get_tenant_model

    tenant = getattr(connection, "tenant", None)
    if tenant is not None and hasattr(tenant, "tier"):
        return tenant
    return get_tenant_model().objects.filter(schema_name=current_schema()).first()


def device_of(request: Any) -> str:
    value = request.COOKIES.get(DEVICE_COOKIE) or request.headers.get("X-Device-Id") or ""
    return value[:40] if value.replace("-", "").isalnum() else ""


@receiver(member_logged_in, dispatch_uid="distribution-member-logged-in")
def on_login(sender: Any, request: Any, member: Any, **kwargs: Any) -> None:
    """A guest's visits on this device become the member's; binding by the shop's rule (on
    registration: only for a member who registered after the visit and was never bound);
    qualification on registration."""
    try:
        _logged_in(request, member)
    except Exception:  # noqa: BLE001 - a login never fails because of distribution
        log.exception("distribution: login of member %s not attributed", member.pk)


def _logged_in(request: Any, member: Any) -> None:
    settings = DistributionSettings.current()
    if not settings.enabled:
        return
    from distribution.models import BindingEvent, Visit

    device = device_of(request)
    registering = (
        not BindingEvent.objects.filter(member=member).exists()
        and Visit.objects.filter(device_id=device, member__isnull=True, at__lte=member.date_joined).exists()
        if device
        else False
    )
    trigger = settings.binding_trigger
    bind_now = trigger == T.FIRST_VISIT or (trigger == T.REGISTRATION and registering)
    services.resolve_visits(member, device_id=device, bind_now=bind_now)  # (first order: at payment)
    if settings.qualification == Q_.ON_REGISTRATION:
        services.distributor_qualify(member, reason="registration")


def enqueue_order_paid(order: Any, **kwargs: Any) -> None:
    """A durable handler of ``order_paid``: the commission task is recorded in the outbox
    in the payment's transaction, so a broker outage or a crash after the commit delays the
    commission but never loses it (``distribution.order_paid`` runs ``on_order_paid``)."""
    outbox.enqueue("distribution.order_paid", order.pk)


events.connect_durable(events.order_paid, enqueue_order_paid)


def on_order_paid(sender: Any, order: Any, **kwargs: Any) -> None:
    """Binding on first order, commission, grade upgrades, qualification (idempotent: the
    commission is decided once per order). A failure never fails the payment: it is logged,
    and the beat's catch-up scan (``commission.commission_catch_up``) computes it later."""
    try:
        _order_paid(order)
    except Exception:  # noqa: BLE001
        log.exception("distribution: order %s paid, commission left to the catch-up", order.pk)


def _order_paid(order: Any) -> None:
    settings = DistributionSettings.current()
    if not settings.enabled:
        return
    if (
        settings.binding_trigger == DistributionSettings.Trigger.FIRST_ORDER
        and services.valid_binding(order.member) is None
    ):
        services.resolve_visits(order.member, bind_now=True, before=order.paid_at)
    tenant = current_tenant()
    made = commission.commission_for_order(tenant, order)
    if made:
        # the earners now (a constant few); their uplines' team sales grew too: the beat job
        # evaluates those (grades.evaluate_recent), keeping a paid order's cost independent
        # of the tree's depth and size
        grades.grade_evaluate(tenant, sorted({line.distributor_id for line in made}))
    if settings.qualification == Q_.AFTER_FIRST_PAID_ORDER:
        services.distributor_qualify(order.member, reason="first_paid_order")
    elif settings.qualification == Q_.AFTER_SPENDING:
        from shop.orders.models import Order

        spent = (
            Order.objects.filter(member=order.member, paid_at__isnull=False)
            .exclude(status=Order.Status.CANCELLED)
            .aggregate(total=Sum("amount_paid"))["total"]
            or 0
        )
        if spent >= settings.spending_threshold:
            services.distributor_qualify(order.member, reason="spending")


@receiver(events.aftersale_closed, dispatch_uid="distribution-aftersale-closed")
def on_aftersale_closed(sender: Any, aftersale: Any, outcome: str, **kwargs: Any) -> None:
    """An after-sale refunded: its lines' commission follows the money once it is back
    (a pending refund waits; its success, ``order_refunded``, syncs them then)."""
    if outcome != "refunded":
        return
    try:
        settlement.commission_refunds_sync(
            aftersale.lines.values_list("order_line_id", flat=True), reference=f"aftersale:{aftersale.pk}"
        )
    except Exception:  # noqa: BLE001 - the catch-up scan applies it later
        log.exception("distribution: after-sale %s refunded, reversal left to the catch-up", aftersale.pk)


@receiver(events.order_refunded, dispatch_uid="distribution-order-refunded")
def on_order_refunded(sender: Any, order: Any, refund: Any, **kwargs: Any) -> None:
    """Money went back: the commission of the order lines the refund was for follows it
    (nothing for shipping, nor for a payment that never paid for the goods)."""
    try:
        settlement.commission_sync_refund(refund)
    except Exception:  # noqa: BLE001 - a refund never fails because of distribution
        log.exception("distribution: refund %s of order %s, reversal left to the catch-up", refund.pk, order.pk)


@receiver(events.order_cancelled, dispatch_uid="distribution-order-cancelled")
def on_order_cancelled(sender: Any, order: Any, **kwargs: Any) -> None:
    """A paid order ended cancelled (closed after refunds, a failed group buy, …): its
    lines' commission follows the money back for them (a refund still pending waits)."""
    if order.paid_at is None:
        return
    try:
        settlement.commission_sync_order(order, reason="cancelled")
    except Exception:  # noqa: BLE001 - the catch-up scan takes it back later
        log.exception("distribution: order %s cancelled, reversal left to the catch-up", order.pk)


@receiver(distributor_code_claimed, dispatch_uid="distribution-coupon-code-claimed")
def on_distributor_code_claimed(sender: Any, member: Any, code: str, coupon: Any, **kwargs: Any) -> None:
    """A member claimed a coupon by a distributor's code: when the code is an active
    distributor's invite code, bind the member to them by the shop's rule (source
    "coupon", the coupon as evidence). A claim never fails because of distribution."""
    try:
        target = services.code_distributor(code)
        if target is None:
            return
        services.bind(
            member,
            target,
            source=BindingSource.COUPON,
            evidence={"code": target.code, "coupon": coupon.pk, "template": coupon.template_id},
            actor=f"member:{member.pk}",
        )
    except Exception:  # noqa: BLE001
        log.exception("distribution: coupon code %s claimed by member %s not bound", code, member.pk)
