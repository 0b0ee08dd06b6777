"""What localstripe does not serve, tested at the Stripe SDK's HTTP-client boundary: the
exact requests sent for a Connect destination charge (the merchant's account, the
platform's fee), its refund (transfer reversed, fee refunded), idempotency keys that
name the shop, and Stripe's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from shop.payments import services
from shop.payments.models import Payment, PaymentSettings, Refund
from tests.conftest import in_shop
from tests.payments.conftest import buyer_of, post, unpaid_order

pytestmark = pytest.mark.django_db


def intent(pi_id: str, amount: int, status: str = "requires_payment_method", **extra: Any) -> dict[str, Any]:
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "currency": "cny",
        "status": status,
        "client_secret": f"{pi_id}_secret_abc",
        **extra,
    }


def test_a_connected_shop_gets_a_destination_charge_less_the_platform_fee(
    alpha: Any, boundary: Any, settings: Any
) -> None:
    settings.PAYMENTS_PLATFORM_FEE_BPS = 250  # 2.5 %
    with in_shop(alpha):
        PaymentSettings.objects.update_or_create(pk=1, defaults={"stripe_account_id": "acct_1Merchant"})
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=12_345)
    http = boundary(
        [
            ("POST", "/v1/payment_intents", 200, intent("pi_connect", 12_345)),
            ("GET", "/v1/payment_intents/pi_connect", 200, intent("pi_connect", 12_345)),
        ]
    )
    started = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"})
    assert started.status_code == 200, started.content
    assert started.json()["client_secret"] == "pi_connect_secret_abc"
    assert started.json()["publishable_key"] == "pk_test_boundary"
    sent = http.requests[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/payment_intents")
    assert sent["params"] == {
        "amount": "12345",
        "currency": "cny",
        "payment_method_types[0]": "card",
        "metadata[tenant_schema]": "shop_alpha",
        "metadata[order_id]": str(order.pk),
        "metadata[order_number]": order.number,
        "transfer_data[destination]": "acct_1Merchant",
        "application_fee_amount": str(12_345 * 250 // 10_000),  # 308: rounded down
    }
    assert sent["headers"]["Idempotency-Key"] == f"shop_alpha:order-{order.pk}-pi"
    assert sent["headers"]["Authorization"] == "Bearer sk_test_boundary"
    # a retry reads the open intent again: no second one is made
    assert post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"}).json()["payment_intent"] == (
        "pi_connect"
    )
    assert [(r["method"], r["path"]) for r in http.requests] == [
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/payment_intents/pi_connect"),
    ]
    with in_shop(alpha):
        payment = Payment.objects.get(order_id=order.pk)
        assert (payment.destination, payment.application_fee) == ("acct_1Merchant", 308)


def test_a_shop_without_a_connected_account_is_charged_on_the_platform(alpha: Any, boundary: Any) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    http = boundary([("POST", "/v1/payment_intents", 200, intent("pi_plain", 9900))])
    assert post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"}).status_code == 200
    params = http.requests[0]["params"]
    assert "transfer_data[destination]" not in params and "application_fee_amount" not in params


def connect_payment(tenant: Any, amount: int = 10_000) -> Any:
    buyer, _client = buyer_of(tenant)
    order = unpaid_order(tenant, buyer, price=amount)
    with in_shop(tenant):
        return Payment.objects.create(
            order=order,
            provider="stripe",
            status="succeeded",
            amount=amount,
            external_id="pi_paid_connect",
            destination="acct_1Merchant",
            application_fee=100,
            succeeded_at=timezone.now(),
        )


def test_refunding_a_connect_payment_reverses_the_transfer_and_the_fee(
    alpha: Any, boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    payment = connect_payment(alpha)
    http = boundary(
        [("POST", "/v1/refunds", 200, {"id": "re_1", "object": "refund", "status": "succeeded", "amount": 2500})]
    )
    with django_capture_on_commit_callbacks(execute=True), in_shop(alpha):
        refund = services.refund_payment(payment, 2500, "size too small", "staff:1", idempotency_key="after-sale-77")
    [sent] = http.requests
    assert (sent["method"], sent["path"]) == ("POST", "/v1/refunds")
    assert sent["params"] == {
        "payment_intent": "pi_paid_connect",
        "amount": "2500",
        "metadata[tenant_schema]": "shop_alpha",
        "metadata[order_id]": str(payment.order_id),
        "metadata[refund_id]": str(refund.pk),
        "metadata[reason]": "size too small",
        "reverse_transfer": "true",
        "refund_application_fee": "true",
    }
    assert sent["headers"]["Idempotency-Key"] == f"shop_alpha:refund-{refund.pk}"
    with in_shop(alpha):
        refund.refresh_from_db()
        assert (refund.status, refund.external_id) == ("succeeded", "re_1")
        again = services.refund_payment(payment, 2500, "size too small", "staff:1", idempotency_key="after-sale-77")
        assert again.pk == refund.pk and Refund.objects.count() == 1  # the client's retry
        assert Payment.objects.get(pk=payment.pk).refunded_amount == 2500
    assert len(http.requests) == 1


def test_a_refund_stripe_refuses_fails_and_the_amount_is_refundable_again(
    alpha: Any, boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    payment = connect_payment(alpha)
    error = {"error": {"type": "invalid_request_error", "message": "Insufficient funds in the connected account."}}
    boundary([("POST", "/v1/refunds", 400, error)])
    with django_capture_on_commit_callbacks(execute=True), in_shop(alpha):
        refund = services.refund_payment(payment, 10_000, "", "staff:1")
    with in_shop(alpha):
        refund.refresh_from_db()
        assert refund.status == "failed" and "Insufficient funds" in refund.failure_message
        assert Payment.objects.get(pk=payment.pk).refunded_amount == 0


def test_stripe_refusing_to_start_a_payment_is_a_503_with_a_clear_message(alpha: Any, boundary: Any) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    boundary(
        [
            (
                "POST",
                "/v1/payment_intents",
                400,
                {"error": {"type": "invalid_request_error", "message": "No such destination"}},
            )
        ]
    )
    response = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"})
    assert response.status_code == 503 and response.json()["code"] == "stripe_unavailable"
