"""Every write of the marketing domain, each in one transaction.

Claims never exceed a template's total quantity or its per-member limit, whatever the
concurrency: the template's ``issued`` count rises by a conditional UPDATE (``issued <
total_quantity``), then the member's claim row (inserted as zero first) by another
(``count < per_member_limit``); rows are always taken in that order (template, then
member), and a refused step rolls the whole claim back."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from platform_core.parsing import as_id
from shop import events
from shop.catalogue.models import Category, Product, Sku
from shop.marketing import flash, groups, selectors
from shop.marketing.models import (
    CouponClaim,
    CouponTemplate,
    DiscountItem,
    DiscountUse,
    FullReduction,
    LimitedDiscount,
    MemberCoupon,
)
from shop.members.models import Member

MAX_AMOUNT = 100_000_000  # ¥1,000,000.00
MAX_QUANTITY = 10_000_000
MAX_ISSUE = 1000  # members per issue request
MAX_ITEMS = 500
MAX_TIERS = 10
# a distributor's code: a mini-program QR ``scene`` holds at most 32 characters
DISTRIBUTOR_CODE = re.compile(r"[A-Za-z0-9_-]{4,32}")

# Sent after commit when a member claimed a coupon with a distributor's code. The
# distribution engine binds the buyer to that distributor by the shop's binding rule
# (binding event source "coupon"). Arguments: member, code, coupon.
distributor_code_claimed = Signal()

Errors = dict[str, list[str]]


# --- parsing -----------------------------------------------------------------------------
def _int(data: dict[str, Any], key: str, errors: Errors, *, low: int = 0, high: int = MAX_AMOUNT) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[key] = [_("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}]
        return None
    return value


def _bool(data: dict[str, Any], key: str, errors: Errors) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        errors[key] = [_("Send true or false.")]
        return None
    return value


def _text(data: dict[str, Any], key: str, errors: Errors, *, limit: int, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            errors[key] = [_("This field is required.")]
        return None
    if not isinstance(value, str):
        errors[key] = [_("Send text.")]
        return None
    value = value.strip()
    if required and not value:
        errors[key] = [_("This field is required.")]
    elif len(value) > limit:
        errors[key] = [_("Use at most %(n)s characters.") % {"n": limit}]
    return value


def _when(data: dict[str, Any], key: str, errors: Errors) -> datetime | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else value if isinstance(value, datetime) else None
    if parsed is None:
        errors[key] = [_("Send a date and time like 2026-06-18T20:00:00+08:00.")]
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _ids(data: dict[str, Any], key: str, errors: Errors, model: Any) -> list[int] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        errors[key] = [_("Send a list of ids.")]
        return None
    ids = [as_id(v) for v in value]
    if any(i is None for i in ids):
        errors[key] = [_("Send a list of ids.")]
        return None
    wanted = sorted({i for i in ids if i is not None})
    known = set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if missing := [i for i in wanted if i not in known]:
        errors[key] = [_("Unknown ids: %(ids)s.") % {"ids": ", ".join(map(str, missing))}]
        return None
    return wanted


def _raise(errors: Errors) -> None:
    if errors:
        raise ValidationError(errors)


# --- coupon templates ---------------------------------------------------------------------
# what cannot change once members hold coupons of a template
FIXED_AFTER_ISSUE = (
    "kind",
    "amount",
    "percent_off",
    "max_discount",
    "min_spend",
    "scope",
    "category_ids",
    "product_ids",
    "excluded_product_ids",
    "valid_from",
    "valid_until",
    "valid_days",
    "per_member_limit",
    "combines_with_activities",
    "distributor_code",
)


def coupon_template_save(data: dict[str, Any], template: CouponTemplate | None = None) -> CouponTemplate:
    """Create a template, or change ``template`` (only the fields sent)."""
    errors: Errors = {}
    creating = template is None
    template = template or CouponTemplate()
    values: dict[str, Any] = {
        "name": _text(data, "name", errors, limit=60, required=creating),
        "kind": data.get("kind"),
        "amount": _int(data, "amount", errors),
        "percent_off": _int(data, "percent_off", errors, low=1, high=99),
        "max_discount": _int(data, "max_discount", errors, low=1),
        "min_spend": _int(data, "min_spend", errors),
        "scope": data.get("scope"),
        "category_ids": _ids(data, "category_ids", errors, Category),
        "product_ids": _ids(data, "product_ids", errors, Product),
        "excluded_product_ids": _ids(data, "excluded_product_ids", errors, Product),
        "valid_from": _when(data, "valid_from", errors),
        "valid_until": _when(data, "valid_until", errors),
        "valid_days": _int(data, "valid_days", errors, low=1, high=3650),
        "total_quantity": _int(data, "total_quantity", errors, low=1, high=MAX_QUANTITY),
        "per_member_limit": _int(data, "per_member_limit", errors, low=1, high=100),
        "combines_with_activities": _bool(data, "combines_with_activities", errors),
        "claimable": _bool(data, "claimable", errors),
        "on_registration": _bool(data, "on_registration", errors),
        "distributor_code": _text(data, "distributor_code", errors, limit=32),
    }
    if values["kind"] is not None and values["kind"] not in CouponTemplate.Kind.values:
        errors["kind"] = [_("Choose amount off, percent off or free shipping.")]
    if values["scope"] is not None and values["scope"] not in CouponTemplate.Scope.values:
        errors["scope"] = [_("Choose the whole shop, categories or products.")]
    if creating and values["kind"] is None:
        errors["kind"] = [_("Choose amount off, percent off or free shipping.")]
    # fields sent as null clear an optional value
    nullable = ("max_discount", "valid_from", "valid_until", "valid_days", "total_quantity")
    sent = {k for k in data if k in values}
    changes = {k: v for k, v in values.items() if k in sent and (v is not None or k in nullable)}
    if not creating and template.issued:
        for key in FIXED_AFTER_ISSUE:
            if key in changes and changes[key] != getattr(template, key):
                errors[key] = [_("Members already hold this coupon: this cannot change any more.")]
    _raise(errors)
    for key, value in changes.items():
        setattr(template, key, value)
    t = template
    if t.kind == CouponTemplate.Kind.FIXED and not t.amount:
        errors["amount"] = [_("Enter the amount off, in fen.")]
    if t.kind == CouponTemplate.Kind.PERCENT and not 1 <= t.percent_off <= 99:
        errors["percent_off"] = [_("Enter a percentage from 1 to 99.")]
    if t.kind == CouponTemplate.Kind.FIXED and t.min_spend and t.amount > t.min_spend:
        errors["amount"] = [_("The amount off cannot exceed the minimum spend.")]
    if t.scope == CouponTemplate.Scope.CATEGORIES and not t.category_ids:
        errors["category_ids"] = [_("Choose at least one category.")]
    if t.scope == CouponTemplate.Scope.PRODUCTS and not t.product_ids:
        errors["product_ids"] = [_("Choose at least one product.")]
    if t.valid_days is not None and (t.valid_from is not None or t.valid_until is not None):
        errors["valid_days"] = [_("Use either dates or a number of days after claiming, not both.")]
    if t.valid_days is None and t.valid_until is None:
        errors["valid_until"] = [_("Give an end date, or a number of days after claiming.")]
    if t.valid_from and t.valid_until and t.valid_until <= t.valid_from:
        errors["valid_until"] = [_("The end must come after the start.")]
    if t.total_quantity is not None and t.total_quantity < t.issued:
        errors["total_quantity"] = [_("%(n)s were already issued.") % {"n": t.issued}]
    if t.distributor_code and not DISTRIBUTOR_CODE.fullmatch(t.distributor_code):
        errors["distributor_code"] = [_("Use 4 to 32 letters, digits, - or _.")]
    elif (
        t.distributor_code
        and CouponTemplate.objects.filter(distributor_code__iexact=t.distributor_code).exclude(pk=t.pk).exists()
    ):
        errors["distributor_code"] = [_("Another coupon uses this code.")]
    _raise(errors)
    t.save()
    return t


def coupon_template_end(template: CouponTemplate) -> CouponTemplate:
    """No more claims or issues; coupons members hold stay valid until they expire."""
    CouponTemplate.objects.filter(pk=template.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    template.refresh_from_db()
    return template


def coupon_template_delete(template: CouponTemplate) -> None:
    with transaction.atomic():
        deleted, _n = CouponTemplate.objects.filter(pk=template.pk, issued=0).delete()
        if not deleted:
            raise ValidationError({"template": [_("Members hold this coupon: end it instead.")]})


# --- claims ------------------------------------------------------------------------------
def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime | None, datetime | None]:
    if template.valid_days:
        return now, now + timedelta(days=template.valid_days)
    return template.valid_from, template.valid_until


def _count_issued(template: CouponTemplate, now: datetime) -> None:
    """One more issued, if any are left (conditional UPDATE: the template row stays locked
    until the claim commits, so concurrent claims of the template queue here)."""
    issued = (
        CouponTemplate.objects.filter(pk=template.pk, ended_at__isnull=True)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .filter(Q(total_quantity__isnull=True) | Q(issued__lt=F("total_quantity")))
        .update(issued=F("issued") + 1)
    )
    if issued != 1:
        current = CouponTemplate.objects.get(pk=template.pk)
        if current.ended_at is not None or (current.valid_until is not None and current.valid_until <= now):
            raise ValidationError({"coupon": [_("This coupon is no longer offered.")]})
        raise ValidationError({"coupon": [_("All of these coupons are gone.")]})


def _count_member(template: CouponTemplate, member: Member) -> None:
    """One more for the member, within the per-member limit (the claim row is inserted as
    zero first, then raised by a conditional UPDATE)."""
    CouponClaim.objects.bulk_create([CouponClaim(template=template, member=member)], ignore_conflicts=True)
    counted = CouponClaim.objects.filter(template=template, member=member, count__lt=template.per_member_limit).update(
        count=F("count") + 1
    )
    if counted != 1:
        raise ValidationError(
            {
                "coupon": [
                    _("You already have as many of this coupon as allowed (%(n)s).") % {"n": template.per_member_limit}
                ]
            }
        )


def _take_one(template: CouponTemplate, member: Member, source: str, now: datetime) -> MemberCoupon:
    """Within the caller's transaction: count one more issued (template row first), one
    more for the member, and make the coupon; a ValidationError on ``coupon`` otherwise."""
    _count_issued(template, now)
    _count_member(template, member)
    valid_from, valid_until = _validity(template, now)
    return MemberCoupon.objects.create(
        template=template, member=member, source=source, valid_from=valid_from, valid_until=valid_until
    )


def coupon_claim(member: Member, template_id: Any) -> MemberCoupon:
    """A member claims a coupon of the claim centre."""
    pk = as_id(template_id)
    template = CouponTemplate.objects.filter(pk=pk, claimable=True, distributor_code="").first() if pk else None
    if template is None:
        raise ValidationError({"coupon": [_("This coupon is not offered.")]})
    with transaction.atomic():
        return _take_one(template, member, MemberCoupon.Source.CLAIM, timezone.now())


def coupon_claim_code(member: Member, code: Any) -> MemberCoupon:
    """A member claims the coupon a distributor shared by its code; once committed, the
    distribution engine binds the member to that distributor."""
    code = code.strip() if isinstance(code, str) else ""
    template = CouponTemplate.objects.filter(distributor_code__iexact=code).first() if code else None
    if template is None:
        raise ValidationError({"code": [_("No coupon has this code.")]})
    with transaction.atomic():
        coupon = _take_one(template, member, MemberCoupon.Source.CODE, timezone.now())
        events.publish(distributor_code_claimed, member=member, code=template.distributor_code, coupon=coupon)
    # TODO(distribution): the engine subscribes to ``distributor_code_claimed`` and binds the
    # member (source "coupon") — the commerce core never imports distribution.
    return coupon


def coupon_issue(template: CouponTemplate, member_ids: Any) -> dict[str, Any]:
    """The merchant gives a coupon to chosen members, in one transaction: all of them get
    one, or (not enough left, a member at the per-member limit) none does."""
    if not isinstance(member_ids, list) or not member_ids or len(member_ids) > MAX_ISSUE:
        raise ValidationError({"members": [_("Choose 1 to %(n)s members.") % {"n": MAX_ISSUE}]})
    parsed = [as_id(i) for i in member_ids]
    ids = [i for i in parsed if i is not None]
    if len(ids) != len(parsed):
        raise ValidationError({"members": [_("Send a list of member ids.")]})
    members = {m.pk: m for m in Member.objects.filter(pk__in=ids, is_active=True)}
    if missing := [i for i in ids if i not in members]:
        raise ValidationError({"members": [_("Unknown members: %(ids)s.") % {"ids": ", ".join(map(str, missing))}]})
    now = timezone.now()
    with transaction.atomic():
        made = []
        for pk in ids:
            try:
                made.append(_take_one(template, members[pk], MemberCoupon.Source.ISSUE, now))
            except ValidationError as exc:
                messages = [m for msgs in exc.message_dict.values() for m in msgs]
                raise ValidationError({"members": [f"{members[pk]}: {' '.join(messages)}"]}) from exc
    return {"issued": len(made), "coupons": [c.pk for c in made]}


def coupons_on_registration(member: Member) -> list[MemberCoupon]:
    """The new member's registration gifts (those still available; others are skipped)."""
    made = []
    now = timezone.now()
    for template in CouponTemplate.objects.filter(on_registration=True, ended_at__isnull=True):
        try:
            with transaction.atomic():
                made.append(_take_one(template, member, MemberCoupon.Source.REGISTRATION, now))
        except ValidationError:
            continue
    return made


# --- coupons and orders --------------------------------------------------------------------
def needs_buyer_lock(inputs: selectors.PricingInputs | None) -> bool:
    """Whether this order's price depends on the member's other orders: an activity with a
    per-member limit applies, or it is a group order (one place per member)."""
    return inputs is not None and (inputs.counted_member_limits or groups.ordering_in_group())


def lock_buyer(member: Member) -> None:
    """In order creation, when ``needs_buyer_lock``, before pricing again: a member's orders
    are then priced one at a time, so a per-member activity limit counts every earlier order
    and a member joins a group once (locks the member row)."""
    list(Member.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True))


def order_placed(order: Any, found: Any) -> None:
    """In order creation's transaction, after the order and its lines were written: hold
    the coupon (unused → locked, a conditional update: two orders never both take it) and
    record the units bought at an activity price."""
    inputs = found.marketing
    if inputs is None:
        return
    now = timezone.now()
    if inputs.member_coupon is not None:
        held = (
            MemberCoupon.objects.filter(pk=inputs.member_coupon.pk, member_id=order.member_id, status="unused")
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
            .update(status=MemberCoupon.Status.LOCKED, order=order)
        )
        if held != 1:
            raise ValidationError({"coupon": [_("This coupon was just used in another order.")]})
    uses = [
        DiscountUse(
            discount_id=line.activity.id,
            order=order,
            member_id=order.member_id,
            sku_id=line.sku_id,
            quantity=line.quantity,
        )
        for line in found.priced.lines
        if line.activity is not None and line.activity.kind == "limited_time"
    ]
    DiscountUse.objects.bulk_create(uses)
    groups.order_placed(order, found.priced.lines)


def take_activity_stock(order: Any, found: Any) -> None:
    """Order creation's last step before its stock (so the hot rows stay locked for the
    shortest time): the flash units, from their sessions' activity stock (a conditional
    UPDATE; sold out → OrderRefused and everything rolls back)."""
    flash.take_units(
        order,
        [
            (line.activity.id, line.quantity)
            for line in found.priced.lines
            if line.activity is not None and line.activity.kind == flash.KIND
        ],
    )


def order_released(order: Any) -> None:
    """In the transaction that cancels an unpaid order (stock already returned): its flash
    units go back to their sessions, its group place is freed."""
    flash.order_released(order)
    groups.order_released(order)


def order_revivable(order: Any) -> bool:
    """In the savepoint of a late payment's revival: whether the order may come back (its
    flash units taken again; never a group order)."""
    return groups.order_revivable(order) and flash.order_revivable(order)


def shipping_blocked(order: Any) -> str | None:
    """Why the merchant cannot ship ``order`` yet (a group buy not succeeded), or None."""
    return groups.shipping_blocked(order)


def order_paid(order: Any) -> int:
    """The order's coupon is used (also after a late payment revived a cancelled order,
    if the coupon was not taken by another order meanwhile). Idempotent."""
    return MemberCoupon.objects.filter(
        order_id=order.pk, status__in=[MemberCoupon.Status.LOCKED, MemberCoupon.Status.UNUSED]
    ).update(status=MemberCoupon.Status.USED, used_at=timezone.now())


def order_cancelled(order: Any) -> int:
    """An unpaid order's coupon goes back to unused (it keeps its validity: past it, it
    shows expired). A coupon used by a paid order that was later refunded stays used.
    Idempotent."""
    return MemberCoupon.objects.filter(order_id=order.pk, status=MemberCoupon.Status.LOCKED).update(
        status=MemberCoupon.Status.UNUSED
    )


# --- limited-time discounts ----------------------------------------------------------------
def _window(data: dict[str, Any], errors: Errors, obj: Any, creating: bool) -> dict[str, Any]:
    starts, ends = _when(data, "starts_at", errors), _when(data, "ends_at", errors)
    if creating and starts is None and "starts_at" not in errors:
        errors["starts_at"] = [_("This field is required.")]
    if creating and ends is None and "ends_at" not in errors:
        errors["ends_at"] = [_("This field is required.")]
    start = starts or getattr(obj, "starts_at", None)
    end = ends or getattr(obj, "ends_at", None)
    if start and end and end <= start:
        errors["ends_at"] = [_("The end must come after the start.")]
    return {k: v for k, v in (("starts_at", starts), ("ends_at", ends)) if v is not None}


def _discount_items(value: Any, errors: Errors) -> list[DiscountItem] | None:
    if not isinstance(value, list) or not value or len(value) > MAX_ITEMS:
        errors["items"] = [_("Add 1 to %(n)s products or SKUs.") % {"n": MAX_ITEMS}]
        return None
    product_ids = [n for i in value if isinstance(i, dict) and (n := as_id(i.get("product")))]
    products = {p.pk: p for p in Product.objects.filter(pk__in=product_ids)}
    sku_ids = [n for i in value if isinstance(i, dict) and (n := as_id(i.get("sku")))]
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=sku_ids)}
    items, problems, seen = [], [], set()
    for n, raw in enumerate(value, start=1):
        if not isinstance(raw, dict):
            problems.append(_("Item %(n)s: send an object.") % {"n": n})
            continue
        product = products.get(as_id(raw.get("product")) or 0)
        sku = skus.get(as_id(raw.get("sku")) or 0) if raw.get("sku") is not None else None
        percent, price = raw.get("percent_off"), raw.get("price")
        if product is None:
            problems.append(_("Item %(n)s: choose a product.") % {"n": n})
        elif raw.get("sku") is not None and (sku is None or sku.product_id != product.pk):
            problems.append(_("Item %(n)s: this SKU is not one of the product's.") % {"n": n})
        elif (percent is None) == (price is None):
            problems.append(_("Item %(n)s: give either a percentage off or a price.") % {"n": n})
        elif percent is not None and (
            isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 99
        ):
            problems.append(_("Item %(n)s: the percentage off is from 1 to 99.") % {"n": n})
        elif price is not None and (
            isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= MAX_AMOUNT
        ):
            problems.append(_("Item %(n)s: enter the price in fen.") % {"n": n})
        elif price is not None and sku is not None and price >= sku.price:
            problems.append(_("Item %(n)s: the activity price must be below the SKU's price.") % {"n": n})
        elif (product.pk, sku.pk if sku else None) in seen:
            problems.append(_("Item %(n)s: listed twice.") % {"n": n})
        else:
            seen.add((product.pk, sku.pk if sku else None))
            items.append(DiscountItem(product=product, sku=sku, percent_off=percent, price=price))
    if problems:
        errors["items"] = problems
        return None
    return items


def discount_save(data: dict[str, Any], discount: LimitedDiscount | None = None) -> LimitedDiscount:
    errors: Errors = {}
    creating = discount is None
    discount = discount or LimitedDiscount()
    name = _text(data, "name", errors, limit=60, required=creating)
    window = _window(data, errors, discount, creating)
    limit = _int(data, "per_member_limit", errors, low=1, high=MAX_QUANTITY)
    items = _discount_items(data.get("items"), errors) if creating or "items" in data else None
    _raise(errors)
    if name is not None:
        discount.name = name
    for key, value in window.items():
        setattr(discount, key, value)
    if "per_member_limit" in data:
        discount.per_member_limit = limit
    with transaction.atomic():
        discount.save()
        if items is not None:
            discount.items.all().delete()
            for item in items:
                item.discount = discount
            DiscountItem.objects.bulk_create(items)
    return discount


def discount_end(discount: LimitedDiscount) -> LimitedDiscount:
    LimitedDiscount.objects.filter(pk=discount.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    selectors.calendar_changed()
    discount.refresh_from_db()
    return discount


def discount_delete(discount: LimitedDiscount) -> None:
    if DiscountUse.objects.filter(discount=discount).exists():
        raise ValidationError({"discount": [_("Orders were placed at this discount: end it instead.")]})
    discount.delete()


# --- full reductions ------------------------------------------------------------------------
def _tiers(value: Any, kind: str, errors: Errors) -> list[dict[str, int]] | None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TIERS:
        errors["tiers"] = [_("Add 1 to %(n)s tiers.") % {"n": MAX_TIERS}]
        return None
    tiers, last = [], 0
    for n, raw in enumerate(value, start=1):
        threshold = raw.get("threshold") if isinstance(raw, dict) else None
        amount = raw.get("value") if isinstance(raw, dict) else None
        high = 99 if kind == FullReduction.Kind.PERCENT else MAX_AMOUNT
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (threshold, amount)):
            errors["tiers"] = [_("Tier %(n)s: send a threshold and a value as whole numbers.") % {"n": n}]
            return None
        assert isinstance(threshold, int) and isinstance(amount, int)
        if not 1 <= threshold <= MAX_AMOUNT or not 1 <= amount <= high:
            errors["tiers"] = [_("Tier %(n)s: the value is from 1 to %(high)s.") % {"n": n, "high": high}]
            return None
        if kind == FullReduction.Kind.AMOUNT and amount > threshold:
            errors["tiers"] = [_("Tier %(n)s: the amount off cannot exceed the threshold.") % {"n": n}]
            return None
        if threshold <= last:
            errors["tiers"] = [_("Tier %(n)s: thresholds must rise from tier to tier.") % {"n": n}]
            return None
        last = threshold
        tiers.append({"threshold": threshold, "value": amount})
    return tiers


def reduction_save(data: dict[str, Any], rule: FullReduction | None = None) -> FullReduction:
    errors: Errors = {}
    creating = rule is None
    rule = rule or FullReduction()
    name = _text(data, "name", errors, limit=60, required=creating)
    kind = data.get("kind", rule.kind if not creating else None)
    if kind not in FullReduction.Kind.values:
        errors["kind"] = [_("Choose amount off or percent off.")]
    window = _window(data, errors, rule, creating)
    tiers = _tiers(data.get("tiers"), str(kind), errors) if creating or "tiers" in data or "kind" in data else None
    product_ids = _ids(data, "product_ids", errors, Product)
    _raise(errors)
    if name is not None:
        rule.name = name
    rule.kind = str(kind)
    for key, value in window.items():
        setattr(rule, key, value)
    if tiers is not None:
        rule.tiers = tiers
    if product_ids is not None:
        rule.product_ids = product_ids
    rule.save()
    return rule


def reduction_end(rule: FullReduction) -> FullReduction:
    FullReduction.objects.filter(pk=rule.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    selectors.calendar_changed()
    rule.refresh_from_db()
    return rule
