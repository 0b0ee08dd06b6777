"""The offline provider (instructions for the buyer, confirmation by the merchant, in one
transaction with the order), the refund primitive (never more than was paid, idempotent,
offline refunds recorded with a reference), bad input, and the payment settings page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from shop import events
from shop.orders import services as orders
from shop.orders.models import Order
from shop.payments import services
from shop.payments.models import Payment, PaymentSettings, Refund
from tests.conftest import in_shop, owner_client
from tests.payments.conftest import buyer_of, post, unpaid_order

pytestmark = pytest.mark.django_db


def test_the_buyer_gets_the_shops_offline_instructions_clearly_labelled(alpha: Any) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=8_800)
    with in_shop(alpha):
        PaymentSettings.objects.update_or_create(pk=1, defaults={"offline_instructions": "工商银行 6222 0000 1234"})
    found = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "offline"})
    assert found.status_code == 200
    body = found.json()
    assert body["provider"] == "offline" and body["amount"] == 8_800 and body["order_number"] == order.number
    assert body["instructions"] == "工商银行 6222 0000 1234"
    client.cookies["django_language"] = "en"
    labelled = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "offline"}).json()
    assert labelled["provider_label"] == "Offline payment, confirmed by the merchant"
    with in_shop(alpha):
        assert not Payment.objects.exists()  # nothing is paid until the merchant confirms
        PaymentSettings.objects.filter(pk=1).update(offline_enabled=False)
    refused = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "offline"})
    assert refused.status_code == 400 and "provider" in refused.json()


def test_bad_requests_to_pay_are_field_errors(alpha: Any) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    for body in ({}, {"provider": "alipay"}, {"provider": None}):
        response = post(client, f"/api/v1/orders/{order.pk}/pay/", body)
        assert response.status_code == 400 and "provider" in response.json(), body
    # no Stripe configured on this platform: card payments are refused, clearly
    card = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"})
    assert card.status_code == 400 and "provider" in card.json()
    with in_shop(alpha):
        orders.order_cancel(order, actor="system", reason="unpaid timeout")
    cancelled = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "offline"})
    assert cancelled.status_code == 400 and "status" in cancelled.json()
    paid = unpaid_order(alpha, buyer)
    with in_shop(alpha):
        services.offline_confirm(paid, amount=paid.payable, actor="staff:1")
    again = post(client, f"/api/v1/orders/{paid.pk}/pay/", {"provider": "offline"})
    assert again.status_code == 400 and "status" in again.json()
    assert client.post(f"/api/v1/orders/{paid.pk}/pay/", data="[1]", content_type="application/json").status_code == 400


def test_the_merchant_confirms_an_offline_payment_in_the_console_and_the_api(alpha: Any) -> None:
    buyer, _client = buyer_of(alpha)
    first, second = unpaid_order(alpha, buyer, price=12_345), unpaid_order(alpha, buyer, price=500)
    staff = owner_client(alpha)
    assert staff.post(f"/console/orders/{first.pk}/", {"action": "mark_paid", "amount": "100"}).status_code == 400
    with in_shop(alpha):
        assert not Payment.objects.exists()  # a wrong amount writes nothing
    assert staff.post(f"/console/orders/{first.pk}/", {"action": "mark_paid", "amount": "123.45"}).status_code == 302
    assert post(staff, f"/api/v1/console/orders/{second.pk}/mark-paid/", {"amount": 500}).json()["status"] == "paid"
    again = post(staff, f"/api/v1/console/orders/{second.pk}/mark-paid/", {"amount": 500})
    assert again.status_code == 400  # confirmed once: a second confirmation records nothing
    with in_shop(alpha):
        rows = [(p.order_id, p.provider, p.status, p.amount) for p in Payment.objects.order_by("id")]
        assert rows == [(first.pk, "offline", "succeeded", 12_345), (second.pk, "offline", "succeeded", 500)]
        assert Order.objects.get(pk=first.pk).status == "paid"
    page = staff.get(f"/console/orders/{first.pk}/").content.decode()
    assert 'id="payments"' in page and "¥123.45" in page and 'value="refund"' in page


def test_offline_confirmation_and_the_order_commit_together(alpha: Any, monkeypatch: Any) -> None:
    buyer, _client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Payment.objects, "create", broken)
    with in_shop(alpha), pytest.raises(RuntimeError):
        services.offline_confirm(order, amount=order.payable, actor="staff:1")
    with in_shop(alpha):
        assert Order.objects.get(pk=order.pk).status == "unpaid"  # the order's move rolled back too


def test_a_cancelled_order_cannot_be_confirmed_offline(alpha: Any) -> None:
    buyer, _client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    with in_shop(alpha):
        orders.order_cancel(order, actor="system", reason="unpaid timeout")
        with pytest.raises(orders.TransitionRefused):
            services.offline_confirm(order, amount=order.payable, actor="staff:1")
        assert not Payment.objects.exists()
        assert not order.log.filter(note__contains="refund").exists()  # nothing half-written


def paid_offline(tenant: Any, amount: int = 10_000) -> Payment:
    buyer, _client = buyer_of(tenant)
    order = unpaid_order(tenant, buyer, price=amount)
    with in_shop(tenant):
        services.offline_confirm(order, amount=amount, actor="staff:1")
        return Payment.objects.get(order=order)


def test_refunds_never_exceed_what_was_paid_and_retries_refund_once(
    alpha: Any, django_capture_on_commit_callbacks: Any
) -> None:
    payment = paid_offline(alpha)
    refunded: list[Any] = []

    def listen(sender: Any, order: Any, refund: Any, **kwargs: Any) -> None:
        refunded.append((order.pk, refund.amount))

    events.order_refunded.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=True), in_shop(alpha):
            first = services.refund_payment(
                payment, 6_000, "退货", "staff:1", idempotency_key="refund-0001", reference="TX1"
            )
            retry = services.refund_payment(
                payment, 6_000, "退货", "staff:1", idempotency_key="refund-0001", reference="TX1"
            )
            assert retry.pk == first.pk
            with pytest.raises(ValidationError) as exc:  # ``payment`` still says 0 refunded: the guard is in SQL
                services.refund_payment(payment, 4_001, "", "staff:1")
            assert "amount" in exc.value.message_dict
            with pytest.raises(ValidationError) as other:
                services.refund_payment(payment, 1_000, "", "staff:1", idempotency_key="refund-0001")
            assert "idempotency_key" in other.value.message_dict
            last = services.refund_payment(payment, 4_000, "", "staff:1", reference="TX2")
            for bad in (0, -1, "12", 1.5, True):
                with pytest.raises(ValidationError):
                    services.refund_payment(payment, bad, "", "staff:1")
    finally:
        events.order_refunded.disconnect(listen)
    with in_shop(alpha):
        assert Payment.objects.get(pk=payment.pk).refunded_amount == 10_000
        assert [(r.amount, r.status, r.reference) for r in Refund.objects.order_by("id")] == [
            (6_000, "succeeded", "TX1"),
            (4_000, "succeeded", "TX2"),
        ]
        assert last.status == "succeeded"
    assert refunded == [(payment.order_id, 6_000), (payment.order_id, 4_000)]


def test_an_offline_refund_without_a_reference_waits_for_the_merchant(alpha: Any) -> None:
    payment = paid_offline(alpha, 3_000)
    staff = owner_client(alpha)
    url = f"/console/orders/{payment.order_id}/"
    assert staff.post(url, {"action": "refund", "amount": "abc", "reason": "x"}).status_code == 400
    assert staff.post(url, {"action": "refund", "amount": "30.01", "reason": "x"}).status_code == 400
    assert staff.post(url, {"action": "refund", "amount": "10.00", "reason": "少发一件"}).status_code == 302
    with in_shop(alpha):
        refund = Refund.objects.get()
        assert (refund.status, refund.amount) == ("pending", 1_000)
    page = staff.get(url).content.decode()
    assert 'value="refund_sent"' in page and "少发一件" in page
    assert staff.post(url, {"action": "refund_sent", "refund": refund.pk, "reference": ""}).status_code == 400
    assert (
        staff.post(url, {"action": "refund_sent", "refund": refund.pk, "reference": "微信转账 4200"}).status_code == 302
    )
    with in_shop(alpha):
        refund.refresh_from_db()
        assert refund.status == "succeeded" and refund.reference.startswith("微信转账 4200")
        assert Payment.objects.get(pk=payment.pk).refunded_amount == 1_000


def test_only_a_succeeded_payment_is_refunded(alpha: Any) -> None:
    buyer, _client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    with in_shop(alpha):
        pending = Payment.objects.create(order=order, provider="offline", amount=order.payable)
        with pytest.raises(ValidationError) as exc:
            services.refund_payment(pending, 100, "", "staff:1")
        assert "payment" in exc.value.message_dict
    staff = owner_client(alpha)
    assert staff.post(f"/console/orders/{order.pk}/", {"action": "refund", "amount": "1.00"}).status_code == 400


def test_the_merchant_edits_the_payment_settings(alpha: Any) -> None:
    staff = owner_client(alpha)
    assert staff.get("/console/payments/").status_code == 200
    bad = staff.post("/console/payments/", {"offline_instructions": "x", "stripe_account_id": "1234"})
    assert bad.status_code == 400
    saved = staff.post(
        "/console/payments/",
        {"offline_enabled": "on", "offline_instructions": "到店付款", "stripe_account_id": "acct_1Merchant"},
    )
    assert saved.status_code == 302
    with in_shop(alpha):
        current = PaymentSettings.current()
        assert (current.offline_enabled, current.offline_instructions, current.stripe_account_id) == (
            True,
            "到店付款",
            "acct_1Merchant",
        )
