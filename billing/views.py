"""Billing pages: the merchant console's "Plan & billing" (shop host) and the Stripe
webhook endpoint (platform host)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema

from billing import services, webhooks
from billing.models import BillingAccount
from platform_core import stripe_gateway as gateway
from platform_core.scoping import ConsoleView, ShopAPIView


def _plan_rows(account: BillingAccount) -> list[dict[str, Any]]:
    return [
        {
            "key": p.key,
            "tier": p.tier,
            "label": services.plan_label(p),
            "interval": p.interval,
            "price": services.money(services.price_of(p)),
            "current": p.key == account.plan_key,
        }
        for p in services.available_plans(account)
    ]


class BillingHome(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        account = services.account_for(self.shop)
        return self.render(
            "billing/home.html",
            {
                "account": account,
                "has_access": services.has_access(account),
                "plans": _plan_rows(account),
                "plan_label": _current_plan_label(account),
                "invoices": account.invoices.all()[:24],
                "stripe": account.provider == BillingAccount.Provider.STRIPE and gateway.stripe_enabled(),
                "grace_days": settings.BILLING_GRACE_DAYS,
            },
        )


def _current_plan_label(account: BillingAccount) -> str:
    if not account.plan_key:
        return ""
    try:
        return services.plan_label(services.resolve_plan(account, account.plan_key))
    except services.BillingError:
        return account.plan_key


class OwnerBillingView(ConsoleView):
    owner_only = True

    def back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("billing:home"))

    def refused(self, exc: services.BillingError) -> HttpResponse:
        account = services.account_for(self.shop)
        messages.error(self.request, exc.message)
        return self.render(
            "billing/home.html",
            {
                "account": account,
                "has_access": services.has_access(account),
                "plans": _plan_rows(account),
                "plan_label": _current_plan_label(account),
                "invoices": account.invoices.all()[:24],
                "stripe": account.provider == BillingAccount.Provider.STRIPE and gateway.stripe_enabled(),
                "grace_days": settings.BILLING_GRACE_DAYS,
                "refusal": exc,
            },
            status=400,
        )


class CardFormView(OwnerBillingView):
    """GET: the card form (Stripe Elements + SetupIntent). POST: the confirmed payment
    method, then subscribe to ``plan`` or, without a plan, make it the card on file."""

    def get(self, request: HttpRequest) -> HttpResponse:
        account = services.account_for(self.shop)
        plan_key = request.GET.get("plan", "")
        if plan_key:
            try:
                target = services.resolve_plan(account, plan_key)
                services.check_plan_allowed(account, target)
            except services.BillingError as exc:
                return self.refused(exc)
        if not gateway.stripe_enabled():
            raise Http404
        return self.render(
            "billing/card.html",
            {
                "client_secret": services.start_card_setup(account),
                "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                "stripe_js_url": settings.STRIPE_JS_URL,
                "plan_key": plan_key,
                "plan_label": services.plan_label(services.resolve_plan(account, plan_key)) if plan_key else "",
                "account": account,
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        payment_method = request.POST.get("payment_method", "").strip()
        plan_key = request.POST.get("plan", "").strip()
        if not payment_method.startswith("pm_"):
            return self.refused(services.BillingError(_("The card could not be saved. Try again."), code="invalid"))
        try:
            if plan_key:
                services.subscribe(self.shop, plan_key, payment_method)
                messages.success(request, _("Subscribed. Thank you!"))
            else:
                services.update_payment_method(self.shop, payment_method)
                messages.success(request, _("Card updated."))
        except services.BillingError as exc:
            return self.refused(exc)
        return self.back()


class ChangePlanView(OwnerBillingView):
    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            account = services.change_plan(self.shop, request.POST.get("plan", ""))
        except services.BillingError as exc:
            return self.refused(exc)
        if account.requested_plan_key:
            messages.success(request, _("Upgrade requested: the platform applies it when it records your payment."))
        else:
            messages.success(request, _("Plan changed."))
        return self.back()


class CancelView(OwnerBillingView):
    def post(self, request: HttpRequest) -> HttpResponse:
        cancel = request.POST.get("resume") != "1"
        try:
            services.set_cancel_at_period_end(self.shop, cancel)
        except services.BillingError as exc:
            return self.refused(exc)
        messages.success(
            request, _("Your subscription ends at the end of the period.") if cancel else _("Subscription resumed.")
        )
        return self.back()


class PortalView(OwnerBillingView):
    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            url = services.portal_url(self.shop, request.build_absolute_uri(reverse("billing:home")))
        except services.BillingError as exc:
            return self.refused(exc)
        return HttpResponseRedirect(url)


class CheckoutView(OwnerBillingView):
    def post(self, request: HttpRequest) -> HttpResponse:
        home = request.build_absolute_uri(reverse("billing:home"))
        try:
            url = services.checkout_url(self.shop, request.POST.get("plan", ""), home + "?checkout=done", home)
        except services.BillingError as exc:
            return self.refused(exc)
        return HttpResponseRedirect(url)


class BillingAPI(ShopAPIView):
    """The shop's billing state and invoices (console users)."""

    @extend_schema(responses={200: dict}, tags=["console"])
    def get(self, request: Any) -> JsonResponse:
        if not request.user.is_staff:
            raise Http404
        account = services.account_for(self.shop)
        return JsonResponse(
            {
                "provider": account.provider,
                "status": account.status,
                "plan": account.plan_key,
                "tier": self.shop.tier,
                "has_access": services.has_access(account),
                "trial_ends_at": account.trial_ends_at,
                "paid_through": account.current_period_end,
                "cancel_at_period_end": account.cancel_at_period_end,
                "overdue_since": account.past_due_since,
                "card": {"brand": account.card_brand, "last4": account.card_last4} if account.card_last4 else None,
                "invoices": [
                    {
                        "number": i.number,
                        "status": i.status,
                        "amount_due": i.amount_due,
                        "amount_paid": i.amount_paid,
                        "currency": i.currency,
                        "url": i.hosted_invoice_url,
                        "pdf": i.invoice_pdf,
                    }
                    for i in account.invoices.all()[:50]
                ],
            }
        )


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    """Platform host. Verifies the signature on the raw body, records the event once and
    answers at once; a task applies it."""

    def post(self, request: HttpRequest) -> HttpResponse:
        signature = request.headers.get("Stripe-Signature", "")
        try:
            _event, created = webhooks.webhook_receive(request.body, signature)
        except (ValueError, gateway.SignatureVerificationError):
            return JsonResponse({"code": "invalid_signature"}, status=400)
        return JsonResponse({"received": True, "duplicate": not created})
