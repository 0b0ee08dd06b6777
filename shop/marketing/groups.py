"""Group buying (拼团).

* A **deal** sells its SKUs at a group price to groups of ``size`` members, each group
  to be filled within ``hours`` of its leader's payment.
* A leader **opens** a group by placing an order at the group price (``group_open``): the
  group is *pending* until that order is paid, then *open* until ``expires_at``. Others
  **join** through the share link (``group_join``, an order carrying the group): a member
  joins a group at most once (a partial unique index), and a place is taken by a
  conditional UPDATE of the group's ``seats`` (``seats < size``), in the order's
  transaction — two buyers taking the last place at once: exactly one joins, the other
  gets ``OrderRefused("group_full")`` with the deal to open a new group from. Never an
  overfull group (a CHECK constraint backs it).
* An unpaid member's order gets a deadline no later than the group's expiry; its
  cancellation gives the place back (``order_released``, in the cancellation's
  transaction); a leader's unpaid cancellation cancels the pending group.
* The group **succeeds** when ``size`` members have paid; only then are its orders
  shippable (``shipping_blocked``, checked by the order service's ship and ready actions).
* **Expiry** (``expire_groups``, driven by beat over all shops): unpaid members' orders are
  cancelled, then — under the group's lock — a group still short either completes with
  simulated members (the deal's choice) or **fails**: every paid member's payment is
  refunded through the payment provider (``refund_payment``; a Stripe refund goes out at
  once, an offline one waits for the merchant to record the transfer as any offline
  refund), the units go back to stock, and the order is closed (``order_close``), which
  publishes ``order_cancelled`` for a paid order: the distribution engine reverses the
  order's commission on that event, as for an order closed after after-sales refunds.

The group an order is for reaches the pricing pipeline through ``intent`` (a context
variable the two services set around ``order_create``): the group price is the line's
activity, before flash sales and limited-time discounts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.parsing import as_id
from shop import pricing
from shop.catalogue.models import Sku
from shop.marketing import selectors as base
from shop.marketing.models import Group, GroupDeal, GroupDealItem, GroupMember

log = logging.getLogger(__name__)
KIND = "group"
MAX_ITEMS = 50
MAX_QUANTITY = 99
G, M = Group.Status, GroupMember.Status


@dataclass(frozen=True)
class Intent:
    deal: GroupDeal
    group: Group | None  # the group joined; None: a new group is opened


_intent: ContextVar[Intent | None] = ContextVar("group_intent", default=None)


@contextmanager
def intent(deal: GroupDeal, group: Group | None) -> Iterator[None]:
    token = _intent.set(Intent(deal, group))
    try:
        yield
    finally:
        _intent.reset(token)


def ordering_in_group() -> bool:
    """Whether the order being placed opens or joins a group (inside ``intent``)."""
    return _intent.get() is not None


# --- reads --------------------------------------------------------------------------------
def running_deals(now: datetime | None = None) -> Any:
    now = now or timezone.now()
    return GroupDeal.objects.filter(ended_at__isnull=True, starts_at__lte=now, ends_at__gt=now)


def offers(skus: Iterable[Sku], now: datetime) -> dict[int, Any]:
    """The group price of each SKU of the deal the current order is for (none outside a
    group order)."""
    wanted = _intent.get()
    ids = [s.pk for s in skus]
    if wanted is None or not ids:
        return {}
    ends = wanted.group.expires_at if wanted.group is not None and wanted.group.expires_at else wanted.deal.ends_at
    return {
        item.sku_id: base.Offer(
            activity=pricing.Activity(KIND, item.pk, item.price),
            name=wanted.deal.name,
            ends_at=ends,
            per_member_limit=None,
        )
        for item in GroupDealItem.objects.filter(deal=wanted.deal, sku_id__in=ids)
    }


def _masked(member: Any) -> str:
    name = (member.name or "").strip()
    if name:
        return name[0] + "*" * min(max(len(name) - 1, 1), 3)
    phone = member.phone or ""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "*"


def group_row(group: Group, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    members = [m for m in group.members.all() if m.status in (M.JOINED, M.PAID)]
    return {
        "id": group.pk,
        "deal": group.deal_id,
        "status": group.status,
        "size": group.size,
        "paid": group.paid,
        "simulated": group.simulated,
        "places_left": max(group.size - group.seats, 0),
        "expires_at": group.expires_at,
        "countdown": max(int((group.expires_at - now).total_seconds()), 0) if group.expires_at else None,
        "leader": _masked(group.leader),
        "members": [{"name": _masked(m.member), "paid": m.status == M.PAID, "leader": m.is_leader} for m in members],
        "share_path": f"/?group={group.pk}",
    }


def deal_row(deal: GroupDeal) -> dict[str, Any]:
    return {
        "id": deal.pk,
        "name": deal.name,
        "size": deal.size,
        "hours": deal.hours,
        "simulate_on_expiry": deal.simulate_on_expiry,
        "starts_at": deal.starts_at,
        "ends_at": deal.ends_at,
        "ended_at": deal.ended_at,
        "items": [
            {
                "sku": item.sku_id,
                "product": item.sku.product_id,
                "name": item.sku.product.name,
                "price": item.sku.price,
                "group_price": item.price,
            }
            for item in deal.items.all()
        ],
    }


def joinable_groups(deal: GroupDeal, now: datetime | None = None) -> Any:
    now = now or timezone.now()
    return (
        Group.objects.filter(deal=deal, status=G.OPEN, expires_at__gt=now)
        .filter(seats__lt=F("size"))
        .select_related("leader")
        .prefetch_related("members__member")
        .order_by("expires_at", "id")
    )


def member_groups(member: Any) -> Any:
    return (
        GroupMember.objects.filter(member=member)
        .select_related("group__deal", "group__leader")
        .prefetch_related("group__members__member")
        .order_by("-created_at", "-id")
    )


def block_data(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decoration ``group_buy`` block: SKUs of the running deals at their group price."""
    from shop.decoration.blocks import product_url

    deals = running_deals().prefetch_related("items__sku__product").order_by("ends_at", "id")[:20]
    # shaped like the theme's product cards: the group price, the SKU's price struck through
    items = [
        {
            **item,
            "id": item["product"],
            "price": item["group_price"],
            "list_price": item["price"],
            "url": product_url(item["product"]),
            "image": None,
            "deal": deal.pk,
            "size": deal.size,
            "ends_at": deal.ends_at,
        }
        for deal in deals
        for item in deal_row(deal)["items"]
    ]
    return [{"items": items[: int(config.get("limit") or 4)]} for config in configs]


def shipping_blocked(order: Any) -> str | None:
    """Why ``order`` cannot ship yet (its group has not succeeded), or None."""
    found = GroupMember.objects.filter(order_id=order.pk).select_related("group").first()
    if found is None or found.group.status == G.SUCCEEDED:
        return None
    return _("This order is part of a group buy that has not succeeded yet: ship it once the group is complete.")


def group_results(deal: GroupDeal) -> dict[str, int]:
    groups = Group.objects.filter(deal=deal)
    done = groups.filter(status__in=[G.SUCCEEDED, G.FAILED]).count()
    won = groups.filter(status=G.SUCCEEDED).count()
    return {
        "groups": groups.count(),
        "open": groups.filter(status=G.OPEN).count(),
        "succeeded": won,
        "failed": groups.filter(status=G.FAILED).count(),
        "success_rate": (won * 100 // done) if done else 0,
    }


# --- writes: deals ------------------------------------------------------------------------
def deal_create(data: dict[str, Any]) -> GroupDeal:
    """``name``, ``size`` (2–50), ``hours`` (1–168), ``simulate_on_expiry``, ``starts_at``,
    ``ends_at``, ``items`` [{"sku", "price" (fen, below the SKU's)}]."""
    from shop.marketing import services

    errors: services.Errors = {}
    name = services._text(data, "name", errors, limit=60, required=True)
    size = services._int(data, "size", errors, low=2, high=50)
    hours = services._int(data, "hours", errors, low=1, high=168)
    simulate = services._bool(data, "simulate_on_expiry", errors)
    if size is None and "size" not in errors:
        errors["size"] = [_("This field is required.")]
    if hours is None and "hours" not in errors:
        errors["hours"] = [_("This field is required.")]
    window = services._window(data, errors, None, True)
    items = _deal_items(data.get("items"), errors)
    services._raise(errors)
    assert size is not None and hours is not None
    with transaction.atomic():
        deal = GroupDeal.objects.create(
            name=name or "", size=size, hours=hours, simulate_on_expiry=bool(simulate), **window
        )
        for item in items:
            item.deal = deal
        GroupDealItem.objects.bulk_create(items)
    return deal


def _deal_items(value: Any, errors: dict[str, list[str]]) -> list[GroupDealItem]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ITEMS:
        errors["items"] = [_("Add 1 to %(n)s SKUs.") % {"n": MAX_ITEMS}]
        return []
    ids = [n for raw in value if isinstance(raw, dict) and (n := as_id(raw.get("sku")))]
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=ids, is_active=True)}
    items, problems, seen = [], [], set()
    for n, raw in enumerate(value, start=1):
        sku = skus.get(as_id(raw.get("sku")) or 0) if isinstance(raw, dict) else None
        price = raw.get("price") if isinstance(raw, dict) else None
        if sku is None:
            problems.append(_("Item %(n)s: choose a SKU on sale.") % {"n": n})
        elif sku.pk in seen:
            problems.append(_("Item %(n)s: listed twice.") % {"n": n})
        elif isinstance(price, bool) or not isinstance(price, int) or not 0 <= price < sku.price:
            problems.append(_("Item %(n)s: the group price is in fen, below the SKU's price.") % {"n": n})
        else:
            seen.add(sku.pk)
            items.append(GroupDealItem(sku=sku, price=price))
    if problems:
        errors["items"] = problems
    return items


def deal_end(deal: GroupDeal) -> GroupDeal:
    """No new groups; groups already open run to success or expiry."""
    GroupDeal.objects.filter(pk=deal.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    deal.refresh_from_db()
    return deal


# --- writes: opening and joining ------------------------------------------------------------
def _order_args(data: dict[str, Any], deal: GroupDeal) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    sku = as_id(data.get("sku"))
    quantity = data.get("quantity", 1)
    if sku is None or not GroupDealItem.objects.filter(deal=deal, sku_id=sku).exists():
        errors["sku"] = [_("Choose one of the deal's items.")]
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        errors["quantity"] = [_("Choose a quantity from 1 to %(max)s.") % {"max": MAX_QUANTITY}]
    note = data.get("note", "")
    if not isinstance(note, str):
        errors["note"] = [_("Send text.")]
    if errors:
        raise ValidationError(errors)
    return {
        "items": [(sku, quantity, None)],
        "fulfilment": str(data.get("fulfilment") or ""),
        "address_id": data.get("address"),
        "store_id": data.get("store"),
        "note": note,
        "expected_payable": data.get("expected_payable")
        if isinstance(data.get("expected_payable"), int) and not isinstance(data.get("expected_payable"), bool)
        else None,
    }


def group_open(member: Any, deal: GroupDeal, data: dict[str, Any]) -> Any:
    """The leader's order at the group price; the group opens once it is paid."""
    now = timezone.now()
    if not (deal.ended_at is None and deal.starts_at <= now < deal.ends_at):
        raise ValidationError({"deal": [_("This group deal is not running.")]})
    args = _order_args(data, deal)
    from shop.orders import services as orders

    with intent(deal, None):
        return orders.order_create(member, **args)


def group_join(member: Any, group: Group, data: dict[str, Any]) -> Any:
    """A member joins ``group`` with an order at the group price (refused: the group is
    full, closed, or the member is already in it)."""
    from shop.orders import services as orders
    from shop.orders.services import OrderRefused

    if group.status != G.OPEN or (group.expires_at is not None and group.expires_at <= timezone.now()):
        raise OrderRefused(
            "group_closed",
            _("This group is no longer open. You can open a new group."),
            {"deal": group.deal_id, "can_open": True},
        )
    if GroupMember.objects.filter(group=group, member=member).exclude(status=M.LEFT).exists():
        raise ValidationError({"group": [_("You are already in this group.")]})
    args = _order_args(data, group.deal)
    with intent(group.deal, group):
        return orders.order_create(member, **args)


def _take_seat(group_id: int, now: datetime) -> bool:
    """One more place, only while the group is open, not expired and not full."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketing_group SET seats = seats + 1 "
            "WHERE id = %s AND status = 'open' AND seats < size AND expires_at > %s",
            [group_id, now],
        )
        return cursor.rowcount == 1


def order_placed(order: Any, lines: list[Any]) -> None:
    """In order creation's transaction: record the order in its group (a new pending group
    for a leader; a place taken in the group joined)."""
    wanted = _intent.get()
    if wanted is None:
        return
    from shop.orders.services import OrderRefused

    if not lines or any(line.activity is None or line.activity.kind != KIND for line in lines):
        raise ValidationError({"sku": [_("A group order holds only the deal's items at the group price.")]})
    now = timezone.now()
    if wanted.group is None:
        group = Group.objects.create(deal=wanted.deal, leader_id=order.member_id, size=wanted.deal.size, seats=1)
        GroupMember.objects.create(group=group, member_id=order.member_id, order=order, is_leader=True)
        return
    if GroupMember.objects.filter(group=wanted.group, member_id=order.member_id).exclude(status=M.LEFT).exists():
        raise ValidationError({"group": [_("You are already in this group.")]})
    if not _take_seat(wanted.group.pk, now):
        raise OrderRefused(
            "group_full",
            _("Someone just took the last place in this group. You can open a new group instead."),
            {"group": wanted.group.pk, "deal": wanted.deal.pk, "can_open": True},
        )
    GroupMember.objects.create(group_id=wanted.group.pk, member_id=order.member_id, order=order)
    expires = Group.objects.values_list("expires_at", flat=True).get(pk=wanted.group.pk)
    if expires is not None and (order.pay_by is None or expires < order.pay_by):
        order.pay_by = expires
        type(order).objects.filter(pk=order.pk).update(pay_by=expires)


def order_released(order: Any) -> None:
    """An unpaid order was cancelled (in its transaction): its place goes back; a pending
    group whose leader did not pay is cancelled."""
    found = GroupMember.objects.filter(order_id=order.pk, status=M.JOINED).first()
    if found is None or not GroupMember.objects.filter(pk=found.pk, status=M.JOINED).update(status=M.LEFT):
        return
    if found.is_leader:
        Group.objects.filter(pk=found.group_id, status=G.PENDING).update(
            status=G.CANCELLED, closed_at=timezone.now(), seats=0
        )
        return
    with connection.cursor() as cursor:
        cursor.execute("UPDATE marketing_group SET seats = seats - 1 WHERE id = %s AND seats > paid", [found.group_id])


def order_revivable(order: Any) -> bool:
    """A group order cancelled unpaid is never revived by a late payment (its place may be
    gone and its group closed): the payment is refunded."""
    return not GroupMember.objects.filter(order_id=order.pk).exists()


def order_paid(order: Any) -> None:
    """A member's order was paid (after commit; idempotent): the member counts; the
    leader's payment opens the group; the last payment makes it succeed. A payment for a
    group that closed meanwhile is refunded."""
    found = GroupMember.objects.filter(order_id=order.pk).first()
    if found is None:
        return
    with transaction.atomic():
        group = Group.objects.select_for_update().select_related("deal").get(pk=found.group_id)
        if group.status in (G.FAILED, G.CANCELLED):
            if GroupMember.objects.filter(pk=found.pk, status=M.JOINED).exists():
                _refund_member(group, GroupMember.objects.get(pk=found.pk), _("Group closed before payment"))
            return
        if not GroupMember.objects.filter(pk=found.pk, status=M.JOINED).update(status=M.PAID):
            return
        _count_payment(group, timezone.now())


def _count_payment(group: Group, now: datetime) -> None:
    group.paid += 1
    if group.status == G.PENDING:
        group.status, group.opened_at = G.OPEN, now
        group.expires_at = now + timedelta(hours=group.deal.hours)
    if group.paid + group.simulated >= group.size:
        group.status, group.closed_at = G.SUCCEEDED, now
    group.save(update_fields=["paid", "status", "opened_at", "expires_at", "closed_at"])


def order_closed(order: Any) -> None:
    """A paid member's order was closed by after-sales refunds while the group was open:
    the member leaves and the place is free again."""
    found = GroupMember.objects.filter(order_id=order.pk, status=M.PAID).first()
    if found is None:
        return
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=found.group_id)
        if group.status != G.OPEN or not GroupMember.objects.filter(pk=found.pk, status=M.PAID).update(status=M.LEFT):
            return
        group.paid -= 1
        group.seats -= 1
        group.save(update_fields=["paid", "seats"])


# --- expiry ---------------------------------------------------------------------------------
def expire_groups(now: datetime | None = None, batch: int = 100) -> dict[str, int]:
    """Groups past their time: unpaid members' orders are cancelled, then each group
    completes (full, or with simulated members when the deal says so) or fails, every paid
    member refunded. Idempotent; one group's error is logged and the others go on."""
    from shop.orders.models import Order

    now = now or timezone.now()
    counts = {"succeeded": 0, "failed": 0}
    # payments whose order_paid event was lost (a crash after commit) count now
    lost = (
        GroupMember.objects.filter(status=M.JOINED, group__status__in=[G.PENDING, G.OPEN], order__paid_at__isnull=False)
        .exclude(order__status=Order.Status.CANCELLED)
        .select_related("order")
    )
    for found in list(lost[:batch]):
        try:
            order_paid(found.order)
        except Exception:  # noqa: BLE001 - one group must not stop the others
            log.exception("group %s: counting the payment of order %s failed", found.group_id, found.order_id)
    due = Group.objects.filter(status=G.OPEN, expires_at__lte=now).order_by("expires_at", "id")
    for pk in list(due.values_list("pk", flat=True)[:batch]):
        try:
            outcome = _expire(pk, now)
        except Exception:  # noqa: BLE001 - one group must not stop the others
            log.exception("group %s: expiry failed", pk)
            continue
        if outcome:
            counts[outcome] += 1
    return counts


def _expire(pk: int, now: datetime) -> str | None:
    from shop.orders import services as orders
    from shop.orders.models import Order

    unpaid = GroupMember.objects.filter(group_id=pk, status=M.JOINED, order__status=Order.Status.UNPAID)
    for order_id in list(unpaid.values_list("order_id", flat=True)):
        try:
            orders.order_cancel(Order.objects.get(pk=order_id), actor="system", reason="group expired")
        except orders.TransitionRefused:
            continue  # paid at the last second: counted below
    with transaction.atomic():
        group = Group.objects.select_for_update().select_related("deal").get(pk=pk)
        if group.status != G.OPEN or group.expires_at is None or group.expires_at > now:
            return None
        # payments whose event was not handled yet count too
        late = GroupMember.objects.filter(group=group, status=M.JOINED, order__paid_at__isnull=False).exclude(
            order__status=Order.Status.CANCELLED
        )
        for member in late:
            if GroupMember.objects.filter(pk=member.pk, status=M.JOINED).update(status=M.PAID):
                _count_payment(group, now)
        if group.status == G.SUCCEEDED:
            return "succeeded"
        if group.deal.simulate_on_expiry:
            group.simulated = group.size - group.paid
            group.status, group.closed_at = G.SUCCEEDED, now
            group.save(update_fields=["simulated", "status", "closed_at"])
            return "succeeded"
        group.status, group.closed_at = G.FAILED, now
        group.save(update_fields=["status", "closed_at"])
        for member in GroupMember.objects.filter(group=group, status=M.PAID).order_by("id"):
            _refund_member(group, member, _("Group %(id)s did not fill in time") % {"id": group.pk})
    return "failed"


def _refund_member(group: Group, member: GroupMember, reason: str) -> None:
    """Refund what the member's order paid through its provider, return its units to stock
    and close the order (``order_cancelled`` follows: commission reversed)."""
    from shop.orders import services as orders
    from shop.orders.models import Order
    from shop.payments import services as payments
    from shop.payments.allocation import RefundFor
    from shop.payments.models import Payment

    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=member.order_id)
        for payment in Payment.objects.filter(order=order, status=Payment.Status.SUCCEEDED).order_by("id"):
            if payment.refundable > 0:
                payments.refund_payment(
                    payment,
                    payment.refundable,
                    str(reason),
                    "system",
                    idempotency_key=f"group-{group.pk}-{payment.pk}",
                    refund_for=RefundFor(everything=True),  # every line, every unit, the shipping
                )
        GroupMember.objects.filter(pk=member.pk).update(status=M.REFUNDED)
        if order.status in orders.TRANSITIONS["close"][0]:
            with connection.cursor() as cursor:
                for line in sorted(order.lines.all(), key=lambda line: line.sku_id):
                    cursor.execute(
                        "UPDATE catalogue_sku SET stock = stock + %s WHERE id = %s", [line.quantity, line.sku_id]
                    )
            orders.order_close(order, actor="system", note=f"group {group.pk} failed: refunded")


def deal_groups(deal: GroupDeal) -> Any:
    return (
        Group.objects.filter(deal=deal)
        .select_related("leader")
        .prefetch_related("members__member")
        .order_by("-created_at", "-id")
    )


def visible(queryset: Any) -> Any:
    """Groups a shopper may look at through a share link (not the never-opened ones)."""
    return queryset.filter(~Q(status__in=[G.PENDING, G.CANCELLED]))
