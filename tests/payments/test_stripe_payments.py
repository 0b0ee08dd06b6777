"""Card payments of shop orders against localstripe: a PaymentIntent per order (reused on
retries), paid the way Stripe.js pays it, its signed webhook delivered to the platform's
endpoint; declines, late payments after cancellation (refunded at once), replays and
out-of-order events (one effect each), forged and foreign events (nothing written)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from platform_core import stripe_gateway as gateway
from shop.orders import services as orders
from shop.orders.models import Order, OrderLog
from shop.payments import services
from shop.payments.models import Payment, PaymentEvent, Refund
from tests.conftest import in_shop, owner_client, platform_client
from tests.payments.conftest import (
    WEBHOOK_URL,
    buyer_of,
    deliver,
    intent_event,
    pay_by_card,
    post,
    signed,
    unpaid_order,
    wait_for,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payments_on")]


def start_card_payment(tenant: Any, client: Any, order: Any) -> dict[str, Any]:
    response = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"})
    assert response.status_code == 200, response.content
    return dict(response.json())


def state(tenant: Any, order: Any) -> tuple[str, list[tuple[str, str, int]]]:
    with in_shop(tenant):
        payments = [(p.provider, p.status, p.amount) for p in Payment.objects.filter(order_id=order.pk)]
        return Order.objects.get(pk=order.pk).status, payments


def test_a_card_payment_pays_the_order_through_the_webhook(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=12_345)
    started = start_card_payment(alpha, client, order)
    assert started["provider"] == "stripe" and started["publishable_key"] == "pk_test_fenxiao"
    assert started["amount"] == 12_345 and started["client_secret"].startswith(started["payment_intent"])
    intent = gateway.v1().payment_intents.retrieve(started["payment_intent"]).to_dict()
    assert (intent["amount"], intent["currency"]) == (12_345, "cny")  # (card only: see the boundary test)
    assert intent["metadata"] == {
        "tenant_schema": "shop_alpha",
        "order_id": str(order.pk),
        "order_number": order.number,
    }

    again = start_card_payment(alpha, client, order)  # a retry reuses the open intent
    assert again["payment_intent"] == started["payment_intent"]
    assert again["client_secret"] == started["client_secret"]

    assert pay_by_card(started["client_secret"])["status"] == "succeeded"
    deliveries = wait_for(webhook_sink, started["payment_intent"], "payment_intent.succeeded")
    [response] = deliver(deliveries, django_capture_on_commit_callbacks)
    assert response.status_code == 200 and response.json()["outcome"] == "recorded"
    assert state(alpha, order) == ("paid", [("stripe", "succeeded", 12_345)])
    with in_shop(alpha):
        paid = Order.objects.get(pk=order.pk)
        assert paid.amount_paid == 12_345
        assert OrderLog.objects.get(order=paid, to_status="paid").actor == "stripe"
        payment = Payment.objects.get(order=paid)
        assert payment.client_secret == "" and payment.succeeded_at is not None  # not exposed after success
        assert PaymentEvent.objects.get().outcome == "payment succeeded: order paid"
    listed = client.get(f"/api/v1/orders/{order.pk}/payments/").json()
    assert [(p["provider"], p["status"], p["amount"]) for p in listed] == [("stripe", "succeeded", 12_345)]
    assert "client_secret" not in listed[0]
    refused = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"})
    assert refused.status_code == 400 and "status" in refused.json()


def test_replays_and_a_stale_failure_after_success_take_one_effect(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    started = start_card_payment(alpha, client, order)
    succeeded = pay_by_card(started["client_secret"])
    deliveries = wait_for(webhook_sink, started["payment_intent"], "payment_intent.succeeded")
    responses = deliver(deliveries * 3, django_capture_on_commit_callbacks)
    assert [r.json()["outcome"] for r in responses] == ["recorded", "duplicate", "duplicate"]
    # Stripe sends an earlier failure late: the intent, read again, has succeeded
    stale = {**succeeded, "status": "requires_payment_method", "last_payment_error": {"code": "card_declined"}}
    [late] = deliver(
        [signed(intent_event("payment_intent.payment_failed", stale, "evt_stale_fail_1"))],
        django_capture_on_commit_callbacks,
    )
    assert late.status_code == 200
    assert state(alpha, order) == ("paid", [("stripe", "succeeded", 9900)])
    with in_shop(alpha):
        assert OrderLog.objects.filter(order_id=order.pk, to_status="paid").count() == 1
        assert PaymentEvent.objects.count() == 2
        assert PaymentEvent.objects.get(event_id="evt_stale_fail_1").outcome == "already applied"


def test_a_declined_card_fails_the_payment_and_the_order_stays_unpaid(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    started = start_card_payment(alpha, client, order)
    with pytest.raises(stripe.CardError):
        pay_by_card(started["client_secret"], "4000000000000341")
    deliver(
        wait_for(webhook_sink, started["payment_intent"], "payment_intent.payment_failed"),
        django_capture_on_commit_callbacks,
    )
    assert state(alpha, order) == ("unpaid", [("stripe", "failed", 9900)])
    with in_shop(alpha):
        assert "declined" in Payment.objects.get(order_id=order.pk).failure_message
    # the buyer tries again: the same intent, open again
    again = start_card_payment(alpha, client, order)
    assert again["payment_intent"] == started["payment_intent"]
    assert state(alpha, order) == ("unpaid", [("stripe", "pending", 9900)])


def test_a_payment_after_cancellation_is_refunded_at_once(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=5_000)
    started = start_card_payment(alpha, client, order)
    with in_shop(alpha):  # the unpaid timeout cancels it while the buyer is typing the card
        orders.order_cancel(order, actor="system", reason="unpaid timeout")
    pay_by_card(started["client_secret"])
    deliver(
        wait_for(webhook_sink, started["payment_intent"], "payment_intent.succeeded"),
        django_capture_on_commit_callbacks,
    )
    assert state(alpha, order) == ("cancelled", [("stripe", "succeeded", 5_000)])
    with in_shop(alpha):
        refund = Refund.objects.get(payment__order_id=order.pk)
        assert (refund.status, refund.amount, refund.actor) == ("succeeded", 5_000, "system")
        assert Payment.objects.get(order_id=order.pk).refunded_amount == 5_000
    at_stripe = gateway.v1().refunds.list(params={"payment_intent": started["payment_intent"]}).data
    assert [(r.id, r.amount) for r in at_stripe] == [(refund.external_id, 5_000)]


def test_cancelling_an_order_cancels_its_open_intent(alpha: Any, django_capture_on_commit_callbacks: Any) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    started = start_card_payment(alpha, client, order)
    with django_capture_on_commit_callbacks(execute=True), in_shop(alpha):
        orders.order_cancel(order, actor=f"member:{buyer.pk}", reason="changed my mind")
    assert gateway.v1().payment_intents.retrieve(started["payment_intent"]).status == "canceled"
    assert state(alpha, order) == ("cancelled", [("stripe", "cancelled", 9900)])


def test_the_merchant_refunds_part_of_a_card_payment_from_the_console(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=10_000)
    started = start_card_payment(alpha, client, order)
    pay_by_card(started["client_secret"])
    deliver(
        wait_for(webhook_sink, started["payment_intent"], "payment_intent.succeeded"),
        django_capture_on_commit_callbacks,
    )
    staff = owner_client(alpha)
    page = staff.get(f"/console/orders/{order.pk}/").content.decode()
    assert started["payment_intent"] in page and 'name="key"' in page
    form = {"action": "refund", "amount": "30.00", "reason": "瑕疵", "key": "console-refund-1"}
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.post(f"/console/orders/{order.pk}/", form).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.post(f"/console/orders/{order.pk}/", form).status_code == 302  # a double submit
    too_much = staff.post(f"/console/orders/{order.pk}/", {**form, "amount": "70.01", "key": "console-refund-2"})
    assert too_much.status_code == 400
    with in_shop(alpha):
        refund = Refund.objects.get(payment__order_id=order.pk)
        assert (refund.status, refund.amount, refund.reason) == ("succeeded", 3_000, "瑕疵")
        assert Payment.objects.get(order_id=order.pk).refunded_amount == 3_000
    at_stripe = gateway.v1().refunds.list(params={"payment_intent": started["payment_intent"]}).data
    assert [r.amount for r in at_stripe] == [3_000]
    page = staff.get(f"/console/orders/{order.pk}/").content.decode()
    assert refund.external_id in page and "¥30.00" in page


def test_forged_unsigned_and_unknown_shop_events_are_refused_and_write_nothing(
    alpha: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    intent = {"id": "pi_forged", "object": "payment_intent", "status": "succeeded", "amount": 100}
    intent["metadata"] = {"tenant_schema": "shop_alpha", "order_id": "1"}
    body, signature = signed(intent_event("payment_intent.succeeded", intent, "evt_forged"), secret="whsec_wrong")
    forged = deliver([(body, signature)], django_capture_on_commit_callbacks)[0]
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_signature"
    unsigned = platform_client().post(WEBHOOK_URL, data=body, content_type="application/json")
    assert unsigned.status_code == 400
    nowhere = {**intent, "metadata": {"tenant_schema": "shop_nosuch", "order_id": "1"}}
    unknown = deliver(
        [signed(intent_event("payment_intent.succeeded", nowhere, "evt_nowhere"))], django_capture_on_commit_callbacks
    )[0]
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_shop"
    public = {**intent, "metadata": {"tenant_schema": "public", "order_id": "1"}}
    assert (
        deliver(
            [signed(intent_event("payment_intent.succeeded", public, "evt_pub"))], django_capture_on_commit_callbacks
        )[0].status_code
        == 400
    )
    settings.STRIPE_PAYMENTS_WEBHOOK_SECRET = ""
    good = signed(intent_event("payment_intent.succeeded", intent, "evt_unconfigured"))
    assert deliver([good], django_capture_on_commit_callbacks)[0].status_code == 400
    with in_shop(alpha):
        assert not PaymentEvent.objects.exists()


def test_an_event_naming_another_shop_with_a_foreign_order_id_changes_nothing(
    alpha: Any, beta: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    start_card_payment(alpha, client, order)
    # a PaymentIntent paid outside the shop's own flow, naming beta and alpha's order id
    v1 = gateway.v1()
    from tests.billing.conftest import card

    foreign = v1.payment_intents.create(
        params={
            "amount": order.payable,
            "currency": "cny",
            "payment_method": card(),
            "confirm": True,
            "metadata": {"tenant_schema": "shop_beta", "order_id": str(order.pk), "order_number": order.number},
        }
    ).to_dict()
    assert foreign["status"] == "succeeded"
    # …and one naming alpha, with alpha's order, which is not the intent alpha made for it
    stray = v1.payment_intents.create(
        params={
            "amount": order.payable,
            "currency": "cny",
            "payment_method": card(),
            "confirm": True,
            "metadata": {"tenant_schema": "shop_alpha", "order_id": str(order.pk), "order_number": order.number},
        }
    ).to_dict()
    responses = deliver(
        [
            signed(intent_event("payment_intent.succeeded", foreign, "evt_foreign_1")),
            signed(intent_event("payment_intent.succeeded", stray, "evt_stray_1")),
        ],
        django_capture_on_commit_callbacks,
    )
    assert [r.status_code for r in responses] == [200, 200]
    assert state(alpha, order) == ("unpaid", [("stripe", "pending", 9900)])
    with in_shop(beta):
        assert not Payment.objects.exists()
        assert PaymentEvent.objects.get().outcome == "ignored: no payment of this shop has this intent"
    with in_shop(alpha):
        assert PaymentEvent.objects.get().outcome == "ignored: no payment of this shop has this intent"


def test_another_shops_order_cannot_be_paid_here(alpha: Any, beta: Any) -> None:
    buyer, _client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    _someone, beta_client = buyer_of(beta, "13900139000")
    with in_shop(beta):
        assert not Order.objects.filter(pk=order.pk).exists()
    assert post(beta_client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "stripe"}).status_code == 404
    assert beta_client.get(f"/api/v1/orders/{order.pk}/payments/").status_code == 404


def test_events_of_other_kinds_and_of_the_platforms_own_payments_are_ignored(
    alpha: Any, django_capture_on_commit_callbacks: Any
) -> None:
    invoice_intent = {"id": "pi_invoice", "object": "payment_intent", "status": "succeeded", "metadata": {}}
    responses = deliver(
        [
            signed(intent_event("payment_intent.succeeded", invoice_intent, "evt_invoice_pi")),
            signed(intent_event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_customer")),
        ],
        django_capture_on_commit_callbacks,
    )
    assert [(r.status_code, r.json()["outcome"]) for r in responses] == [(200, "ignored"), (200, "ignored")]
    with in_shop(alpha):
        assert not PaymentEvent.objects.exists()


def test_an_event_whose_processing_was_lost_is_retried(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    started = start_card_payment(alpha, client, order)
    pay_by_card(started["client_secret"])
    deliveries = wait_for(webhook_sink, started["payment_intent"], "payment_intent.succeeded")
    with django_capture_on_commit_callbacks(execute=False):  # the worker died before running it
        platform_client().post(
            WEBHOOK_URL, data=deliveries[0][0], content_type="application/json", HTTP_STRIPE_SIGNATURE=deliveries[0][1]
        )
    assert state(alpha, order)[0] == "unpaid"
    with django_capture_on_commit_callbacks(execute=True), in_shop(alpha):
        assert services.retry_stale(timezone.now() + timedelta(minutes=10)) == {"events": 1, "refunds": 0}
    assert state(alpha, order) == ("paid", [("stripe", "succeeded", 9900)])


def test_a_late_payment_revives_the_order_when_the_shop_chose_so(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from shop.models import ShopSettings

    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    started = start_card_payment(alpha, client, order)
    with in_shop(alpha):
        ShopSettings.objects.update_or_create(pk=1, defaults={"late_payment": "revive"})
        orders.order_cancel(order, actor="system", reason="unpaid timeout")
    pay_by_card(started["client_secret"])
    deliver(
        wait_for(webhook_sink, started["payment_intent"], "payment_intent.succeeded"),
        django_capture_on_commit_callbacks,
    )
    assert state(alpha, order) == ("paid", [("stripe", "succeeded", 9900)])
    with in_shop(alpha):
        assert not Refund.objects.exists()


def test_a_card_payment_for_an_order_the_merchant_already_confirmed_is_refunded(
    alpha: Any, webhook_sink: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    started = start_card_payment(alpha, client, order)
    with in_shop(alpha):  # the buyer also paid cash at the counter, at the same moment
        services.offline_confirm(order, amount=order.payable, actor="staff:1")
    pay_by_card(started["client_secret"])
    deliver(
        wait_for(webhook_sink, started["payment_intent"], "payment_intent.succeeded"),
        django_capture_on_commit_callbacks,
    )
    assert state(alpha, order) == ("paid", [("stripe", "succeeded", 9900), ("offline", "succeeded", 9900)])
    with in_shop(alpha):
        refund = Refund.objects.get()
        assert (refund.payment.provider, refund.status, refund.amount) == ("stripe", "succeeded", 9900)
    assert [r.amount for r in gateway.v1().refunds.list(params={"payment_intent": started["payment_intent"]}).data] == [
        9900
    ]


def test_confirming_an_offline_payment_closes_the_open_card_intent(
    alpha: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer)
    started = start_card_payment(alpha, client, order)
    staff = owner_client(alpha)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(staff, f"/api/v1/console/orders/{order.pk}/mark-paid/", {"amount": 9900}).status_code == 200
    assert gateway.v1().payment_intents.retrieve(started["payment_intent"]).status == "canceled"
    assert state(alpha, order) == ("paid", [("stripe", "cancelled", 9900), ("offline", "succeeded", 9900)])
