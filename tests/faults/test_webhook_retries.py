"""Stripe webhooks: a retry of an event whose processing has not finished is queued again
(its first task may have been lost with a worker), a processed one is only acknowledged;
signatures dated more than a few minutes in the future are refused (billing and shop
payments alike)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from platform_core.models import OutboxMessage
from tests.conftest import in_shop, platform_client

pytestmark = pytest.mark.django_db
SECRET = "whsec_faults"


def signed(payload: dict[str, Any], stamp: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    stamp = int(time.time()) if stamp is None else stamp
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={mac}"


def post(url: str, delivery: tuple[bytes, str]) -> Any:
    body, signature = delivery
    return platform_client().post(url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


@pytest.fixture
def secrets(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_PAYMENTS_WEBHOOK_SECRET = SECRET


def intent_event(alpha: Any, event_id: str) -> dict[str, Any]:
    intent = {
        "id": "pi_faults_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 100,
        "metadata": {"tenant_schema": alpha.schema_name, "order_id": "1"},
    }
    return {"id": event_id, "object": "event", "type": "payment_intent.succeeded", "data": {"object": intent}}


def queued(task: str) -> list[list[Any]]:
    return list(OutboxMessage.objects.filter(task=task).order_by("id").values_list("args", flat=True))


def test_a_payments_retry_of_an_unprocessed_event_is_queued_again(
    alpha: Any, secrets: None, django_capture_on_commit_callbacks: Any
) -> None:
    from shop.payments.models import PaymentEvent

    event = signed(intent_event(alpha, "evt_faults_requeue"))
    # the broker was down: recorded, its processing waits in the outbox (not run here)
    with django_capture_on_commit_callbacks(execute=False):
        first = post("/payments/stripe/webhook/", event)
        again = post("/payments/stripe/webhook/", event)
    assert [first.json()["outcome"], again.json()["outcome"]] == ["recorded", "requeued"]
    assert queued("payments.process_event") == [["evt_faults_requeue"], ["evt_faults_requeue"]]
    with in_shop(alpha):
        assert PaymentEvent.objects.filter(event_id="evt_faults_requeue").count() == 1
    # processed once (the task is idempotent), a later retry is only acknowledged
    OutboxMessage.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        post("/payments/stripe/webhook/", event)
    with in_shop(alpha):
        assert PaymentEvent.objects.get(event_id="evt_faults_requeue").processed_at is not None
    with django_capture_on_commit_callbacks(execute=False):
        late = post("/payments/stripe/webhook/", event)
    assert late.json()["outcome"] == "duplicate" and queued("payments.process_event") == []


def test_a_billing_retry_of_an_unprocessed_event_is_queued_again(
    secrets: None, django_capture_on_commit_callbacks: Any
) -> None:
    from billing.models import StripeEvent

    payload = {
        "id": "evt_faults_billing",
        "object": "event",
        "type": "customer.subscription.updated",
        "data": {"object": {"id": "sub_x", "object": "subscription", "customer": "cus_not_ours"}},
    }
    event = signed(payload)
    with django_capture_on_commit_callbacks(execute=False):
        responses = [post("/billing/stripe/webhook/", event) for _ in range(3)]
    assert [r.json()["duplicate"] for r in responses] == [False, True, True]
    assert queued("billing.process_stripe_event") == [["evt_faults_billing"]] * 3
    OutboxMessage.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        post("/billing/stripe/webhook/", event)
    assert StripeEvent.objects.get(event_id="evt_faults_billing").processed_at is not None
    with django_capture_on_commit_callbacks(execute=False):
        post("/billing/stripe/webhook/", event)
    assert queued("billing.process_stripe_event") == []


@pytest.mark.parametrize("url", ["/billing/stripe/webhook/", "/payments/stripe/webhook/"])
def test_signatures_dated_in_the_future_are_refused(alpha: Any, secrets: None, url: str) -> None:
    from billing.models import StripeEvent
    from shop.payments.models import PaymentEvent

    hour_ahead = post(url, signed(intent_event(alpha, "evt_future_hour"), stamp=int(time.time()) + 3600))
    assert hour_ahead.status_code == 400 and hour_ahead.json()["code"] == "invalid_signature"
    six_minutes = post(url, signed(intent_event(alpha, "evt_future_six"), stamp=int(time.time()) + 360))
    assert six_minutes.status_code == 400
    hour_ago = post(url, signed(intent_event(alpha, "evt_past_hour"), stamp=int(time.time()) - 3600))
    assert hour_ago.status_code == 400
    # a clock a minute ahead of ours is within the tolerance
    skewed = post(url, signed(intent_event(alpha, "evt_skewed"), stamp=int(time.time()) + 60))
    assert skewed.status_code == 200
    assert not StripeEvent.objects.filter(event_id__startswith="evt_future").exists()
    with in_shop(alpha):
        assert not PaymentEvent.objects.filter(event_id__startswith="evt_future").exists()
