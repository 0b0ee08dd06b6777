"""Coupons in the storefront, as plain forms: the claim centre (``/coupons/``), claiming one
(``POST /coupons/<id>/claim/``, from the centre, the product page, the cart or the home
page's coupon block, back to where the tap came from), the member's coupons by state
(``/account/coupons/``) and the checkout's choice of coupon, best first, each one that
does not apply saying why."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from platform_core.scoping import ShopScopedMixin
from shop.marketing import selectors as marketing
from shop.marketing import services as marketing_services
from shop.marketing.models import CouponTemplate
from shop.members.auth import MemberRequiredMixin, current_member
from shop.members.views import form_errors, safe_next
from shop.storefront import drops
from shop.storefront.coupon_offers import CENTRE_SIZE, MY_STATES, offers
from shop.storefront.theming import render_page


class StorefrontPage(ShopScopedMixin, View):
    def page(self, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        return render_page(self.request, template, context, status=status)


class CouponCentre(StorefrontPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.centre(request)

    def centre(
        self, request: HttpRequest, errors: dict[str, list[str]] | None = None, status: int = 200
    ) -> HttpResponse:
        member = current_member(request)
        templates = list(marketing.claim_centre()[:CENTRE_SIZE])
        return self.page(
            "templates/coupons",
            {
                "coupons": offers(member, templates),
                "errors": drops.errors_data(errors or {}),
                "next": "/coupons/",
                "page_title": _("Coupon centre"),
            },
            status=status,
        )


class CouponClaim(CouponCentre):
    """One tap claims the coupon; the visitor goes back to ``next`` (a path on this host)
    with a message. A guest logs in first and comes back to the claim centre."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not CouponTemplate.objects.filter(pk=kwargs["pk"], claimable=True, distributor_code="").exists():
            raise Http404  # (another shop's id, or one never offered)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:  # type: ignore[override]
        return HttpResponseRedirect(f"/coupons/#coupon-{pk}")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        back = safe_next(request, "/coupons/")
        member = current_member(request)
        if member is None:
            return redirect_to_login(f"/coupons/#coupon-{pk}", reverse("members:login"))
        try:
            coupon = marketing_services.coupon_claim(member, pk)
        except ValidationError as exc:
            return self.centre(request, form_errors(exc), status=400)
        messages.success(request, _("Coupon claimed: %(name)s. It is in My coupons.") % {"name": coupon.template.name})
        return HttpResponseRedirect(back)


class MyCoupons(MemberRequiredMixin, StorefrontPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state") or "unused"
        now = timezone.now()
        tabs = [
            {
                "key": key,
                "label": drops.COUPON_STATE_LABELS[key](),
                "count": marketing.member_coupons(self.member, key, now).count()
                + (marketing.member_coupons(self.member, "locked", now).count() if key == "unused" else 0),
                "url": f"/account/coupons/?state={key}",
            }
            for key in MY_STATES
        ]
        if state not in MY_STATES:
            errors = {"state": [_("One of: %(choices)s.") % {"choices": ", ".join(MY_STATES)}]}
            context = {"coupons": [], "tabs": tabs, "state": "", "errors": drops.errors_data(errors)}
            return self.page("templates/my-coupons", context, status=400)
        found = marketing.member_coupons(self.member, state, now)
        if state == "unused":  # with those held by an unpaid order (back to unused if it is cancelled)
            found = found | marketing.member_coupons(self.member, "locked", now)
        found = found.select_related("template").order_by("-claimed_at", "-id")[:100]
        return self.page(
            "templates/my-coupons",
            {
                "coupons": [drops.member_coupon(c, now) for c in found],
                "tabs": tabs,
                "state": state,
                "errors": {},
                "centre_url": "/coupons/",
                "page_title": _("My coupons"),
            },
        )
