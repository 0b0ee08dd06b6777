"""Payments test harness: localstripe and its webhook sink (from the billing tests), shop
orders to pay, what Stripe.js does in the buyer's browser, and delivery of signed events
to the platform's payments webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from platform_core import stripe_gateway as gateway

# The fake Stripe (localstripe), its webhook sink and the SDK-boundary recorder.
from tests.billing.conftest import (  # noqa: F401
    WEBHOOK_SECRET,
    WebhookSink,
    card,
    localstripe_url,
    stripe_boundary,
    stripe_on,
    webhook_sink,
)
from tests.conftest import in_shop, platform_client
from tests.orders.conftest import member, member_client, product

WEBHOOK_URL = "/payments/stripe/webhook/"


@pytest.fixture
def payments_on(settings: Any, request: Any) -> Iterator[None]:
    """Stripe (localstripe) configured for shop payments too."""
    request.getfixturevalue("stripe_on")
    settings.STRIPE_PAYMENTS_WEBHOOK_SECRET = WEBHOOK_SECRET
    yield


@pytest.fixture
def boundary(settings: Any, request: Any) -> Any:
    """Stripe answered by a recording HTTP client (``tests/billing/conftest.py``)."""
    install = request.getfixturevalue("stripe_boundary")
    settings.STRIPE_PAYMENTS_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_boundary"
    return install


def unpaid_order(tenant: Any, buyer: Any, *, price: int = 9900, stock: int = 5) -> Any:
    from shop.orders import services

    sku = product(tenant, price=price, stock=stock)
    with in_shop(tenant):
        return services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )


def buyer_of(tenant: Any, phone: str = "13800138000") -> tuple[Any, Client]:
    someone = member(tenant, phone)
    return someone, member_client(tenant, someone)


def post(client: Client, url: str, data: Any = None) -> Any:
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def pay_by_card(client_secret: str, number: str = "4242424242424242") -> dict[str, Any]:
    """What Stripe.js's confirmCardPayment does in the buyer's browser: tokenise the card,
    attach it to the PaymentIntent (by its client secret) and confirm. localstripe answers
    500 to ``confirm`` with a ``payment_method``, so the method is set first."""
    intent_id = client_secret.split("_secret_")[0]
    v1 = gateway.v1()
    v1.payment_intents.update(intent_id, params={"payment_method": card(number)})
    return dict(v1.payment_intents.confirm(intent_id).to_dict())


def wait_for(sink: WebhookSink, intent_id: str, *types: str, timeout: float = 15) -> list[tuple[bytes, str]]:
    """localstripe's signed deliveries about ``intent_id``, once one of each type arrived."""
    deadline = time.time() + timeout
    seen: set[str] = set()
    while time.time() < deadline:
        with sink.lock:
            mine = [(b, s) for b, s in sink.received if json.loads(b)["data"]["object"].get("id") == intent_id]
        seen = {json.loads(b)["type"] for b, _s in mine}
        if all(t in seen for t in types):
            return [(b, s) for b, s in mine if json.loads(b)["type"] in types]
        time.sleep(0.1)
    raise AssertionError(f"webhooks {types} for {intent_id} did not arrive; got {sorted(seen)}")


def signed(payload: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """An event signed as Stripe signs it (for events localstripe cannot produce)."""
    body = json.dumps(payload).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={mac}"


def intent_event(kind: str, intent: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": intent},
    }


def deliver(deliveries: list[tuple[bytes, str]], capture: Any) -> list[Any]:
    """POST signed deliveries to the platform's webhook, running the tasks they publish."""
    responses = []
    for body, signature in deliveries:
        with capture(execute=True):
            responses.append(
                platform_client().post(
                    WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
                )
            )
    return responses
