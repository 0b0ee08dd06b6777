"""The Stripe webhook endpoint of shop payments, on the platform host (one endpoint for
every shop: the PaymentIntent's metadata names the shop)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from shop.payments import services


@method_decorator(csrf_exempt, name="dispatch")
class StripePaymentsWebhookView(View):
    """Verifies the signature on the raw body, records the event once in the shop's schema
    and answers at once; a task applies it. 400 (nothing written) for a bad signature, a
    shop that does not exist, or while ``STRIPE_PAYMENTS_WEBHOOK_SECRET`` is unset."""

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            outcome = services.webhook_receive(request.body, request.headers.get("Stripe-Signature", ""))
        except services.WebhookRefused as exc:
            return JsonResponse({"code": exc.code}, status=400)
        return JsonResponse({"received": True, "outcome": outcome})
