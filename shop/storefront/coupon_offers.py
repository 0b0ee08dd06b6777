"""Coupons beside the goods: those a product page and a cart offer to claim, and the
checkout's choice of the member's coupons, best first (no page here: the views of
``coupons`` and ``views`` use these)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from shop.checkout import services as checkout
from shop.marketing import selectors as marketing
from shop.marketing.models import CouponTemplate, MemberCoupon
from shop.storefront import drops

CENTRE_SIZE = 100  # coupons listed in the claim centre (a shop offers a handful)
CHOICE_SIZE = 20  # coupons priced against the cart at checkout (one quote each)
MY_STATES = ("unused", "used", "expired")


def offers(member: Any, templates: list[CouponTemplate]) -> list[dict[str, Any]]:
    """``templates`` as the storefront lists them, with what ``member`` already holds."""
    held = marketing.claimed_counts(member, [t.pk for t in templates]) if member is not None else {}
    rows = []
    for template in templates:
        row = marketing.offer_data(template)
        claimed = held.get(template.pk, 0)
        row["claimed"] = claimed
        row["can_claim"] = claimed < template.per_member_limit and row["left"] != 0
        rows.append(row)
    return rows


def product_coupons(member: Any, product: Any) -> list[dict[str, Any]]:
    """Coupons of the claim centre that take in ``product`` (the product page)."""
    templates = [t for t in marketing.claim_centre()[:CENTRE_SIZE] if marketing.covers_product(t, product)]
    return offers(member, templates)


def cart_coupons(member: Any, products: list[Any]) -> list[dict[str, Any]]:
    """Coupons of the claim centre that take in something in the cart and that the
    visitor can still claim."""
    templates = [
        t
        for t in marketing.claim_centre()[:CENTRE_SIZE]
        if any(marketing.covers_product(t, product) for product in products)
    ]
    return [row for row in offers(member, templates) if row["can_claim"]]


def checkout_choices(
    member: Any, cart: Any, *, fulfilment: str, province: str | None, payable_without: int
) -> list[dict[str, Any]]:
    """The member's unused coupons against this cart: those that apply first, the one
    saving most on top; then the others, each with why it does not apply (the coupon's
    scope, its minimum spend, its dates)."""
    now = timezone.now()
    rows: list[dict[str, Any]] = []
    for coupon in marketing.member_coupons(member, MemberCoupon.Status.UNUSED, now)[:CHOICE_SIZE]:
        row = drops.member_coupon(coupon, now)
        if coupon.valid_from is not None and coupon.valid_from > now:
            row.update(
                applies=False, why=_("Valid from %(time)s.") % {"time": marketing.local_label(coupon.valid_from)}
            )
            rows.append(row)
            continue
        found = checkout.cart_quote(cart, fulfilment=fulfilment, province=province, member=member, coupon=coupon.pk)
        saves = payable_without - found.payable
        applies = bool(found.priced.coupon_applied) and saves > 0
        why = ""
        if not applies:
            problem = found.priced.coupon_problem
            if problem == "min_spend":
                why = _("Needs %(amount)s of eligible goods.") % {"amount": drops.money(coupon.template.min_spend)}
            elif problem:
                why = marketing.coupon_problem_message(problem)
            else:
                why = _("Takes nothing off this order.")
        row.update(applies=applies, saves=max(saves, 0), payable=found.payable, why=why)
        rows.append(row)
    rows.sort(key=lambda r: (not r["applies"], -r.get("saves", 0), r["id"]))
    if rows and rows[0]["applies"]:
        rows[0]["best"] = True
    return rows
