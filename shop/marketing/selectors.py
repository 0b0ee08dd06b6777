"""Reads of the marketing domain, and what the pricing pipeline is fed: which activity each
SKU sells at now, which promotions run, and what a member's coupon covers. ``shop.pricing``
stays pure; everything that reads the database to price an order is here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.localcache import changed, memo, shop_scope
from platform_core.parsing import as_id
from shop import pricing
from shop.catalogue.models import Category, Sku
from shop.marketing.models import (
    CouponClaim,
    CouponTemplate,
    DiscountItem,
    DiscountUse,
    FullReduction,
    LimitedDiscount,
    MemberCoupon,
)


def running(queryset: QuerySet[Any], now: datetime) -> QuerySet[Any]:
    """Activities running at ``now``: from ``starts_at`` (inclusive) to ``ends_at``
    (exclusive), not ended early."""
    return queryset.filter(ended_at__isnull=True, starts_at__lte=now, ends_at__gt=now)


# --- the shop's activity calendar (no query while it is current) --------------------------
@dataclass(frozen=True)
class Window:
    id: int
    starts_at: datetime
    ends_at: datetime

    def runs_at(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at  # the same bounds as ``running``


@dataclass(frozen=True)
class Calendar:
    """The shop's activities that have not ended: when each full reduction, limited-time
    discount and flash session runs (and the reductions' rules). Which SKUs they cover and
    the flash stock left are read live, and only when one of them runs."""

    promotions: tuple[tuple[Window, pricing.Promotion], ...]
    discounts: tuple[Window, ...]
    flash_sessions: tuple[Window, ...]


def calendar() -> Calendar:
    """From the process's memo of the shop's configuration: saving or deleting a reduction,
    discount or flash session (or ending one early: ``calendar_changed``) announces a change
    to every process."""
    return memo.get(shop_scope(), "marketing.calendar", _load_calendar)


def calendar_changed() -> None:
    """An activity was changed without a model save (an UPDATE of ``ended_at``)."""
    changed(shop_scope())


def _load_calendar() -> Calendar:
    from shop.marketing.models import FlashSession

    now = timezone.now()
    promotions = []
    for rule in FullReduction.objects.filter(ended_at__isnull=True, ends_at__gt=now):
        tiers = tuple(
            pricing.PromotionTier(threshold=int(t["threshold"]), amount_off=int(t["value"]))
            if rule.kind == FullReduction.Kind.AMOUNT
            else pricing.PromotionTier(threshold=int(t["threshold"]), percent_off=int(t["value"]))
            for t in rule.tiers
        )
        ids = frozenset(rule.product_ids) if rule.product_ids else None
        promotions.append(
            (Window(rule.pk, rule.starts_at, rule.ends_at), pricing.Promotion(rule.pk, rule.name, tiers, sku_ids=ids))
        )
    windows = ("pk", "starts_at", "ends_at")
    return Calendar(
        promotions=tuple(promotions),
        discounts=tuple(
            Window(*row)
            for row in LimitedDiscount.objects.filter(ended_at__isnull=True, ends_at__gt=now).values_list(*windows)
        ),
        flash_sessions=tuple(
            Window(*row)
            for row in FlashSession.objects.filter(ended_at__isnull=True, ends_at__gt=now).values_list(*windows)
        ),
    )


# --- activities --------------------------------------------------------------------------
@dataclass(frozen=True)
class Offer:
    """The activity a SKU sells at now, with what the storefront shows about it."""

    activity: pricing.Activity
    name: str
    ends_at: datetime
    per_member_limit: int | None
    remaining: int | None = None  # a flash sale's activity stock left


def activity_offers(skus: Iterable[Sku], now: datetime | None = None) -> dict[int, Offer]:
    """For each SKU, the one activity it sells at now (see the priority in ``shop.pricing``):
    the group price (only in a group order: ``groups.intent``), then a running flash sale,
    then the lowest limited-time discount."""
    from shop.marketing import flash, groups

    now = now or timezone.now()
    skus = list(skus)
    if not skus:
        return {}
    offers: dict[int, Offer] = groups.offers(skus, now)
    for sku_id, offer in flash.offers([s for s in skus if s.pk not in offers], now).items():
        offers[sku_id] = offer
    skus = [s for s in skus if s.pk not in offers]
    discounts = [w.id for w in calendar().discounts if w.runs_at(now)]
    if not skus or not discounts:
        return offers
    items = DiscountItem.objects.filter(
        discount_id__in=discounts, product_id__in={s.product_id for s in skus}
    ).select_related("discount")
    best: dict[int, tuple[int, int]] = {}
    for item in items:
        for sku in skus:
            if sku.product_id != item.product_id or (item.sku_id is not None and item.sku_id != sku.pk):
                continue
            price = item.unit_price(sku.price)
            if price >= sku.price or (sku.pk in best and best[sku.pk] <= (price, item.discount_id)):
                continue  # the lowest price wins; ties: the older discount
            best[sku.pk] = (price, item.discount_id)
            offers[sku.pk] = Offer(
                activity=pricing.Activity("limited_time", item.discount_id, price),
                name=item.discount.name,
                ends_at=item.discount.ends_at,
                per_member_limit=item.discount.per_member_limit,
            )
    return offers


def discount_units_bought(member: Any, discount_ids: Iterable[int]) -> dict[int, int]:
    """Units ``member`` has in orders not cancelled, bought at each discount's price."""
    rows = (
        DiscountUse.objects.filter(member=member, discount_id__in=list(discount_ids))
        .exclude(order__status="cancelled")
        .values("discount_id")
        .annotate(units=Sum("quantity"))
    )
    return {row["discount_id"]: int(row["units"] or 0) for row in rows}


def product_offers(product: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """The activity price of each active SKU of ``product`` and when it ends (countdown)."""
    skus = list(Sku.objects.filter(product=product, is_active=True).select_related("product"))
    offers = activity_offers(skus, now)
    return [
        {
            "sku": sku.pk,
            "price": sku.price,
            "activity_price": offer.activity.unit_price,
            "activity": {
                "kind": offer.activity.kind,
                "id": offer.activity.id,
                "name": offer.name,
                "ends_at": offer.ends_at,
                "per_member_limit": offer.per_member_limit,
                "remaining": offer.remaining,  # a flash sale's activity stock left
            },
        }
        for sku in skus
        if (offer := offers.get(sku.pk)) is not None
    ]


# --- promotions --------------------------------------------------------------------------
def running_promotions(now: datetime | None = None) -> list[pricing.Promotion]:
    now = now or timezone.now()
    return [promotion for window, promotion in calendar().promotions if window.runs_at(now)]


# --- coupons -----------------------------------------------------------------------------
def coupon_state(coupon: MemberCoupon, now: datetime | None = None) -> str:
    """The state a member sees: an unused coupon past its validity is expired."""
    now = now or timezone.now()
    if coupon.status == MemberCoupon.Status.UNUSED and coupon.valid_until is not None and coupon.valid_until <= now:
        return str(MemberCoupon.Status.EXPIRED)
    return str(coupon.status)


def member_coupons(member: Any, state: str | None = None, now: datetime | None = None) -> QuerySet[MemberCoupon]:
    now = now or timezone.now()
    found = MemberCoupon.objects.filter(member=member).select_related("template")
    expired = Q(status=MemberCoupon.Status.EXPIRED) | Q(
        status=MemberCoupon.Status.UNUSED, valid_until__isnull=False, valid_until__lte=now
    )
    if state == MemberCoupon.Status.EXPIRED:
        return found.filter(expired)
    if state == MemberCoupon.Status.UNUSED:
        return found.filter(status=MemberCoupon.Status.UNUSED).exclude(expired)
    if state:
        return found.filter(status=state)
    return found


def claim_centre(now: datetime | None = None) -> QuerySet[CouponTemplate]:
    """Templates members can claim now: claimable, not ended, in their dates, not gone."""
    now = now or timezone.now()
    return (
        CouponTemplate.objects.filter(claimable=True, ended_at__isnull=True, distributor_code="")
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .exclude(total_quantity__isnull=False, issued__gte=F("total_quantity"))
        .order_by("-created_at", "-id")
    )


def claimed_counts(member: Any, template_ids: Sequence[int]) -> dict[int, int]:
    rows = CouponClaim.objects.filter(member=member, template_id__in=list(template_ids))
    return {row.template_id: row.count for row in rows}


def _categories_under(ids: Iterable[int]) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for pk, parent in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    found, todo = set(), list(ids)
    while todo:
        pk = todo.pop()
        if pk not in found:
            found.add(pk)
            todo.extend(children.get(pk, []))
    return found


def covered_skus(template: CouponTemplate, skus: Iterable[Sku]) -> frozenset[int] | None:
    """The SKUs (of ``skus``) in the template's scope; None for the whole shop."""
    skus = list(skus)
    excluded = set(template.excluded_product_ids or [])
    if template.scope == CouponTemplate.Scope.ALL:
        if not excluded:
            return None
        return frozenset(s.pk for s in skus if s.product_id not in excluded)
    if template.scope == CouponTemplate.Scope.PRODUCTS:
        wanted = set(template.product_ids or [])
        return frozenset(s.pk for s in skus if s.product_id in wanted and s.product_id not in excluded)
    categories = _categories_under(template.category_ids or [])
    return frozenset(s.pk for s in skus if s.product.category_id in categories and s.product_id not in excluded)


def covers_product(template: CouponTemplate, product: Any) -> bool:
    """Whether the template's scope takes in ``product`` (the product page's coupons)."""
    if product.pk in (template.excluded_product_ids or []):
        return False
    if template.scope == CouponTemplate.Scope.ALL:
        return True
    if template.scope == CouponTemplate.Scope.PRODUCTS:
        return product.pk in (template.product_ids or [])
    return product.category_id in _categories_under(template.category_ids or [])


def coupon_for_pricing(template: CouponTemplate, skus: Iterable[Sku], coupon_id: int) -> pricing.Coupon:
    return pricing.Coupon(
        id=coupon_id,
        kind=template.kind,
        amount=template.amount,
        percent_off=template.percent_off,
        max_discount=template.max_discount,
        min_spend=template.min_spend,
        sku_ids=covered_skus(template, skus),
        combines_with_activities=template.combines_with_activities,
    )


def usable_coupon(member: Any, coupon_id: Any, now: datetime | None = None) -> MemberCoupon:
    """The member's coupon ``coupon_id`` if it can go into an order now, else a field-level
    ValidationError on ``coupon`` saying why."""
    now = now or timezone.now()
    pk = as_id(coupon_id)
    found = (
        MemberCoupon.objects.select_related("template").filter(pk=pk, member=member).first()
        if pk and member is not None
        else None
    )
    if found is None:
        raise ValidationError({"coupon": [_("Choose one of your coupons.")]})
    state = coupon_state(found, now)
    if state == MemberCoupon.Status.LOCKED:
        raise ValidationError({"coupon": [_("This coupon is held by an unpaid order.")]})
    if state == MemberCoupon.Status.USED:
        raise ValidationError({"coupon": [_("This coupon was already used.")]})
    if state == MemberCoupon.Status.EXPIRED:
        raise ValidationError({"coupon": [_("This coupon has expired.")]})
    if found.valid_from is not None and found.valid_from > now:
        raise ValidationError({"coupon": [_("This coupon is not valid yet.")]})
    return found


COUPON_PROBLEMS = {
    "scope": lambda: _("This coupon does not cover anything in your order."),
    "min_spend": lambda: _("This coupon needs a larger order."),
}


def coupon_problem_message(code: str) -> str:
    return str(COUPON_PROBLEMS[code]())


# --- what the pipeline is fed -------------------------------------------------------------
@dataclass
class PricingInputs:
    activities: dict[int, pricing.Activity] = field(default_factory=dict)  # by SKU
    offers: dict[int, Offer] = field(default_factory=dict)
    promotions: list[pricing.Promotion] = field(default_factory=list)
    coupon: pricing.Coupon | None = None
    member_coupon: MemberCoupon | None = None
    # what the buyer should know (an activity's per-member limit reached: normal price)
    notes: list[dict[str, Any]] = field(default_factory=list)
    # an activity with a per-member limit applied to a line: the member's earlier orders
    # were counted (order creation then prices under the member's lock)
    counted_member_limits: bool = False


def pricing_inputs(
    lines: Sequence[tuple[Sku, int]], *, member: Any = None, coupon: Any = None, now: datetime | None = None
) -> PricingInputs:
    """Everything that applies to ``lines`` (SKU, quantity) now, for ``member``. A coupon
    that is not the member's, used, held or expired is a ValidationError on ``coupon``;
    whether it covers the order (scope, minimum spend) the pipeline says."""
    now = now or timezone.now()
    skus = [sku for sku, _qty in lines]
    found = PricingInputs(promotions=running_promotions(now))
    if coupon not in (None, ""):
        found.member_coupon = usable_coupon(member, coupon, now)
        found.coupon = coupon_for_pricing(found.member_coupon.template, skus, found.member_coupon.pk)
    offers = activity_offers(skus, now)
    bought = _units_bought(member, offers.values())
    found.counted_member_limits = member is not None and any(o.per_member_limit is not None for o in offers.values())
    for sku, quantity in lines:
        offer = offers.get(sku.pk)
        if offer is None:
            continue
        if offer.remaining is not None and quantity > offer.remaining:
            found.notes.append(
                {
                    "sku": sku.pk,
                    "code": "flash_sold_out",
                    "remaining": offer.remaining,
                    "message": _("%(name)s: only %(n)s left at the flash price.")
                    % {"name": offer.name, "n": offer.remaining},
                }
            )
            continue
        key = (offer.activity.kind, offer.activity.id)
        if member is not None and offer.per_member_limit is not None:
            used = bought.get(key, 0)
            if used + quantity > offer.per_member_limit:
                found.notes.append(
                    {
                        "sku": sku.pk,
                        "code": "activity_limit",
                        "limit": offer.per_member_limit,
                        "bought": used,
                        "message": _("%(name)s: at most %(n)s per member at the activity price.")
                        % {"name": offer.name, "n": offer.per_member_limit},
                    }
                )
                continue
            bought[key] = used + quantity
        found.offers[sku.pk] = offer
        found.activities[sku.pk] = offer.activity
    return found


def _units_bought(member: Any, offers: Iterable[Offer]) -> dict[tuple[str, int], int]:
    """Units ``member`` already bought at each limited activity (by kind and id)."""
    from shop.marketing import flash

    if member is None:
        return {}
    limited = [o.activity for o in offers if o.per_member_limit is not None]
    discounts = {a.id for a in limited if a.kind == "limited_time"}
    flashes = {a.id for a in limited if a.kind == flash.KIND}
    found: dict[tuple[str, int], int] = {}
    if discounts:
        found.update({("limited_time", k): v for k, v in discount_units_bought(member, discounts).items()})
    if flashes:
        found.update({(flash.KIND, k): v for k, v in flash.units_bought(member, flashes).items()})
    return found


# --- coupons as the storefront shows them ---------------------------------------------------
def local_label(when: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` in the shop's time zone ('' for none)."""
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when is not None else ""


def offer_data(template: CouponTemplate) -> dict[str, Any]:
    """A coupon template as plain values (the same in every language: the theme words it):
    what it takes off, from what spend, on what, how long, and how many are left."""
    left = None if template.total_quantity is None else max(template.total_quantity - template.issued, 0)
    return {
        "template": template.pk,
        "name": template.name,
        "kind": template.kind,
        "amount": template.amount,
        "percent_off": template.percent_off,
        "max_discount": template.max_discount,
        "min_spend": template.min_spend,
        "scope": template.scope,
        "valid_days": template.valid_days,
        "valid_from": local_label(template.valid_from),
        "valid_until": local_label(template.valid_until),
        "left": left,
        "per_member_limit": template.per_member_limit,
        "claim_url": f"/coupons/{template.pk}/claim/",
    }


def coupon_block_data(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decoration ``coupons`` block: the chosen templates still on offer, in the
    merchant's order (one query for every block of the page)."""
    wanted = {n for config in configs for pk in (config.get("template_ids") or []) if (n := as_id(pk))}
    offered = {t.pk: t for t in claim_centre().filter(pk__in=wanted)} if wanted else {}
    return [
        {
            "items": [
                offer_data(offered[pk])
                for pk in (as_id(raw) for raw in (config.get("template_ids") or []))
                if pk in offered
            ]
        }
        for config in configs
    ]


# --- the price a buyer pays now, wherever a price is shown ----------------------------------
def running_signature(now: datetime | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Which limited-time discounts and flash sessions run now (no query while the
    calendar is current): part of the key of anything cached that shows prices, so a
    page shows the new price as soon as an activity starts or ends."""
    now = now or timezone.now()
    found = calendar()
    return (
        tuple(w.id for w in found.discounts if w.runs_at(now)),
        tuple(w.id for w in found.flash_sessions if w.runs_at(now)),
    )


def pay_now_prices(skus: Iterable[Sku], now: datetime | None = None) -> dict[int, int]:
    """What one unit of each SKU costs now: its activity's price (limited-time discount
    or flash sale) when one runs, else its price. No query when nothing runs."""
    now = now or timezone.now()
    skus = list(skus)
    prices = {s.pk: s.price for s in skus}
    if not any(running_signature(now)):
        return prices
    for sku_id, offer in activity_offers(skus, now).items():
        prices[sku_id] = min(prices[sku_id], offer.activity.unit_price)
    return prices


def card_prices(product_ids: Iterable[int], now: datetime | None = None) -> dict[int, dict[str, int | bool]]:
    """For each product of ``product_ids`` with an activity running on one of its SKUs,
    the price range a buyer pays now and the lowest regular price (struck through on the
    card): ``{"price", "max_price", "price_varies", "list_price"}``. Empty (no query) when
    nothing runs."""
    now = now or timezone.now()
    ids = list(product_ids)
    if not ids or not any(running_signature(now)):
        return {}
    skus = list(Sku.objects.filter(product_id__in=ids, is_active=True).select_related("product"))
    prices = pay_now_prices(skus, now)
    found: dict[int, dict[str, int | bool]] = {}
    for product_id in {s.product_id for s in skus if prices[s.pk] < s.price}:
        own = [s for s in skus if s.product_id == product_id]
        now_prices = [prices[s.pk] for s in own]
        low, high = min(now_prices), max(now_prices)
        found[product_id] = {
            "price": low,
            "max_price": high,
            "price_varies": low != high,
            "list_price": min(s.price for s in own),
        }
    return found
