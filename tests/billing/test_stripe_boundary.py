"""What localstripe does not serve (plan changes on a subscription item, Checkout, the
Customer Portal) tested at the Stripe SDK's HTTP-client boundary: the exact requests sent,
and Stripe's documented responses and errors handled."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from billing import services, webhooks
from billing.models import BillingAccount, StripeEvent
from tenants.models import Tenant
from tests.billing.conftest import WEBHOOK_SECRET
from tests.conftest import owner_client, platform_client

pytestmark = pytest.mark.django_db

NOW = int(time.time())


def subscription(plan_id: str, status: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "id": "sub_123",
        "object": "subscription",
        "status": status,
        "customer": "cus_123",
        "cancel_at_period_end": False,
        "trial_end": None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_123",
                    "object": "subscription_item",
                    "plan": {"id": plan_id, "object": "plan"},
                    "current_period_end": NOW + 30 * 86400,
                }
            ],
        },
        **extra,
    }


def subscribed(tenant: Tenant, plan_key: str = "standard_monthly") -> BillingAccount:
    account = services.account_for(tenant)
    BillingAccount.objects.filter(pk=account.pk).update(
        provider="stripe",
        status="active",
        plan_key=plan_key,
        stripe_customer_id="cus_123",
        stripe_subscription_id="sub_123",
        stripe_subscription_item_id="si_123",
        trial_ends_at=timezone.now() - timedelta(days=1),
    )
    account.refresh_from_db()
    return account


def test_upgrade_changes_the_subscription_item_prorated_and_the_tier(alpha: Tenant, stripe_boundary: Any) -> None:
    subscribed(alpha)
    http = stripe_boundary(
        [
            ("POST", "/v1/subscription_items/si_123", 200, {"id": "si_123", "object": "subscription_item"}),
            ("GET", "/v1/subscriptions/sub_123", 200, subscription("fenxiao-pro-monthly")),
        ]
    )
    response = owner_client(alpha).post("/console/billing/plan/", {"plan": "pro_monthly"})
    assert response.status_code == 302
    first = http.requests[0]
    assert (first["method"], first["path"]) == ("POST", "/v1/subscription_items/si_123")
    assert first["params"] == {"plan": "fenxiao-pro-monthly", "proration_behavior": "create_prorations"}
    assert first["headers"]["Authorization"] == "Bearer sk_test_boundary"
    assert [r["path"] for r in http.requests] == ["/v1/subscription_items/si_123", "/v1/subscriptions/sub_123"]
    assert BillingAccount.objects.get(tenant=alpha).plan_key == "pro_monthly"
    assert Tenant.objects.get(pk=alpha.pk).tier == "pro"


def test_a_declined_proration_charge_is_reported_and_changes_nothing(alpha: Tenant, stripe_boundary: Any) -> None:
    subscribed(alpha)
    stripe_boundary(
        [
            (
                "POST",
                "/v1/subscription_items/si_123",
                402,
                {"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}},
            )
        ]
    )
    response = owner_client(alpha).post("/console/billing/plan/", {"plan": "pro_monthly"})
    assert response.status_code == 400 and "Your card was declined." in response.content.decode()
    assert BillingAccount.objects.get(tenant=alpha).plan_key == "standard_monthly"
    assert Tenant.objects.get(pk=alpha.pk).tier == "standard"


def test_checkout_session_is_created_with_the_plans_price(alpha: Tenant, stripe_boundary: Any) -> None:
    account = services.account_for(alpha)
    BillingAccount.objects.filter(pk=account.pk).update(provider="stripe", stripe_customer_id="cus_123")
    http = stripe_boundary(
        [
            (
                "POST",
                "/v1/checkout/sessions",
                200,
                {"id": "cs_123", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_123"},
            )
        ]
    )
    response = owner_client(alpha).post("/console/billing/checkout/", {"plan": "pro_yearly"})
    assert response.status_code == 302 and response["Location"] == "https://checkout.stripe.com/c/pay/cs_123"
    sent = http.requests[0]["params"]
    assert sent["mode"] == "subscription"
    assert sent["customer"] == "cus_123"
    assert sent["client_reference_id"] == str(alpha.pk)
    assert sent["line_items[0][price]"] == "fenxiao-pro-yearly" and sent["line_items[0][quantity]"] == "1"
    assert sent["success_url"].startswith("http://alpha.localhost/console/billing/")
    assert "subscription_data[trial_end]" in sent  # the rest of the free trial carries over


def test_checkout_errors_are_shown_not_raised(alpha: Tenant, stripe_boundary: Any) -> None:
    account = services.account_for(alpha)
    BillingAccount.objects.filter(pk=account.pk).update(provider="stripe", stripe_customer_id="cus_123")
    stripe_boundary(
        [
            (
                "POST",
                "/v1/checkout/sessions",
                400,
                {"error": {"type": "invalid_request_error", "message": "No such price"}},
            )
        ]
    )
    response = owner_client(alpha).post("/console/billing/checkout/", {"plan": "pro_yearly"})
    assert response.status_code == 400


def test_customer_portal_link(alpha: Tenant, stripe_boundary: Any) -> None:
    subscribed(alpha)
    http = stripe_boundary(
        [
            (
                "POST",
                "/v1/billing_portal/sessions",
                200,
                {"id": "bps_1", "object": "billing_portal.session", "url": "https://billing.stripe.com/p/session/x"},
            )
        ]
    )
    response = owner_client(alpha).post("/console/billing/portal/")
    assert response["Location"] == "https://billing.stripe.com/p/session/x"
    assert http.requests[0]["params"] == {
        "customer": "cus_123",
        "return_url": "http://alpha.localhost/console/billing/",
    }


def test_portal_not_configured_in_stripe_is_a_readable_refusal(alpha: Tenant, stripe_boundary: Any) -> None:
    subscribed(alpha)
    stripe_boundary(
        [
            (
                "POST",
                "/v1/billing_portal/sessions",
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "No configuration provided and your test mode default configuration has not been created.",
                    }
                },
            )
        ]
    )
    response = owner_client(alpha).post("/console/billing/portal/")
    assert response.status_code == 400 and 'id="refusal"' in response.content.decode()


def signed(payload: dict[str, Any]) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    stamp = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={mac}"


def test_checkout_completed_links_the_subscription_to_the_shop(
    beta: Tenant, stripe_boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    account = services.account_for(beta)
    BillingAccount.objects.filter(pk=account.pk).update(trial_ends_at=timezone.now() - timedelta(days=1))
    http = stripe_boundary([("GET", "/v1/subscriptions/sub_123", 200, subscription("fenxiao-standard-yearly"))])
    body, signature = signed(
        {
            "id": "evt_checkout_1",
            "object": "event",
            "type": "checkout.session.completed",
            "created": NOW,
            "data": {
                "object": {
                    "id": "cs_1",
                    "object": "checkout.session",
                    "customer": "cus_123",
                    "subscription": "sub_123",
                    "client_reference_id": str(beta.pk),
                    "metadata": {"tenant_id": str(beta.pk), "plan_key": "standard_yearly"},
                }
            },
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = platform_client().post(
            "/billing/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    assert response.status_code == 200
    account.refresh_from_db()
    assert (account.stripe_customer_id, account.stripe_subscription_id, account.status) == (
        "cus_123",
        "sub_123",
        "active",
    )
    assert account.plan_key == "standard_yearly"
    assert Tenant.objects.get(pk=beta.pk).tier == "standard"
    assert [r["path"] for r in http.requests] == ["/v1/subscriptions/sub_123"]
    assert StripeEvent.objects.get(event_id="evt_checkout_1").outcome == "checkout linked"


def test_events_for_an_unknown_customer_touch_no_shop(
    alpha: Tenant, stripe_boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    http = stripe_boundary([])
    body, signature = signed(
        {
            "id": "evt_other",
            "object": "event",
            "type": "invoice.paid",
            "created": NOW,
            "data": {"object": {"id": "in_9", "object": "invoice", "customer": "cus_someone_else"}},
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        platform_client().post(
            "/billing/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    assert StripeEvent.objects.get(event_id="evt_other").outcome.startswith("ignored")
    assert http.requests == []
    assert not BillingAccount.objects.filter(stripe_customer_id="cus_someone_else").exists()


def test_stripe_unreachable_leaves_the_event_unprocessed_for_a_retry(
    alpha: Tenant, stripe_boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscribed(alpha)
    stripe_boundary(
        [("GET", "/v1/subscriptions/sub_123", 500, {"error": {"type": "api_error", "message": "boom"}})] * 3
    )
    body, signature = signed(
        {
            "id": "evt_retry",
            "object": "event",
            "type": "customer.subscription.updated",
            "created": NOW,
            "data": {"object": {"id": "sub_123", "object": "subscription", "customer": "cus_123"}},
        }
    )
    from platform_core import stripe_gateway as gateway

    response = platform_client().post(
        "/billing/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 200  # acknowledged: Stripe will not resend what we recorded
    with pytest.raises(gateway.StripeError):
        webhooks.process_event("evt_retry")
    event = StripeEvent.objects.get(event_id="evt_retry")
    assert event.processed_at is None  # recorded, not applied: the task retries, beat re-publishes


def test_a_late_event_about_an_old_subscription_never_replaces_the_live_one(
    alpha: Tenant, stripe_boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The first attempt (sub_old) was abandoned; the retry (sub_123) is live. sub_old's
    'created' event, processed last, must not take the account over."""
    subscribed(alpha)
    old = subscription("fenxiao-standard-monthly", status="canceled") | {"id": "sub_old"}
    stripe_boundary([("GET", "/v1/subscriptions/sub_old", 200, old)])
    body, signature = signed(
        {
            "id": "evt_late",
            "object": "event",
            "type": "customer.subscription.created",
            "created": NOW - 60,
            "data": {"object": {"id": "sub_old", "object": "subscription", "customer": "cus_123"}},
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        platform_client().post(
            "/billing/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    account = BillingAccount.objects.get(tenant=alpha)
    assert (account.stripe_subscription_id, account.status, account.past_due_since) == ("sub_123", "active", None)
    assert StripeEvent.objects.get(event_id="evt_late").outcome == "ignored: not the shop's current subscription"


def test_an_invoice_of_an_old_subscription_is_recorded_but_does_not_move_the_account(
    alpha: Tenant, stripe_boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscribed(alpha)
    invoice = {
        "id": "in_old",
        "object": "invoice",
        "customer": "cus_123",
        "status": "open",
        "amount_due": 9900,
        "amount_paid": 0,
        "currency": "cny",
        "number": "F-0001",
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_old"}},
    }
    old = subscription("fenxiao-standard-monthly", status="past_due") | {"id": "sub_old"}
    stripe_boundary([("GET", "/v1/invoices/in_old", 200, invoice), ("GET", "/v1/subscriptions/sub_old", 200, old)])
    body, signature = signed(
        {
            "id": "evt_old_inv",
            "object": "event",
            "type": "invoice.payment_failed",
            "created": NOW,
            "data": {"object": {"id": "in_old", "object": "invoice", "customer": "cus_123"}},
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        platform_client().post(
            "/billing/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    account = BillingAccount.objects.get(tenant=alpha)
    assert (account.stripe_subscription_id, account.status, account.past_due_since) == ("sub_123", "active", None)
    assert account.invoices.get(external_id="in_old").payment_failed_at is not None


def test_subscribing_again_while_stripe_has_a_live_subscription_adopts_it_and_creates_none(
    alpha: Tenant, stripe_boundary: Any
) -> None:
    account = services.account_for(alpha)
    BillingAccount.objects.filter(pk=account.pk).update(provider="stripe", stripe_customer_id="cus_123")
    http = stripe_boundary(
        [
            (
                "GET",
                "/v1/subscriptions",
                200,
                {
                    "object": "list",
                    "data": [subscription("fenxiao-pro-monthly")],
                    "has_more": False,
                    "url": "/v1/subscriptions",
                },
            )
        ]
    )
    with pytest.raises(services.BillingError) as exc:
        services.subscribe(alpha, "pro_monthly", "pm_second_tab")
    assert exc.value.code == "already_subscribed"
    assert [(r["method"], r["path"]) for r in http.requests] == [("GET", "/v1/subscriptions")]  # nothing created
    account.refresh_from_db()
    assert (account.stripe_subscription_id, account.plan_key, account.status) == ("sub_123", "pro_monthly", "active")


def test_stripe_refusals_are_4xx_pages_not_500s(alpha: Tenant, stripe_boundary: Any) -> None:
    subscribed(alpha)
    stripe_boundary(
        [
            (
                "GET",
                "/v1/payment_methods/pm_bogus",
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such PaymentMethod: 'pm_bogus'",
                    }
                },
            )
        ]
    )
    response = owner_client(alpha).post("/console/billing/card/", {"payment_method": "pm_bogus"})
    assert response.status_code == 400 and 'id="refusal"' in response.content.decode()
    BillingAccount.objects.filter(tenant=alpha).update(status="canceled")
    assert owner_client(alpha).post("/console/billing/cancel/").status_code == 400


def test_a_new_custom_quote_is_a_new_price_and_moves_the_subscription_to_it(
    alpha: Tenant, stripe_boundary: Any
) -> None:
    account = subscribed(alpha, plan_key="custom")
    BillingAccount.objects.filter(pk=account.pk).update(
        custom_monthly_amount=150_000, stripe_plan_id="fenxiao-custom-alpha-100000"
    )
    http = stripe_boundary(
        [
            (
                "GET",
                "/v1/plans/fenxiao-custom-alpha-150000",
                404,
                {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such plan"}},
            ),
            ("POST", "/v1/plans", 200, {"id": "fenxiao-custom-alpha-150000", "object": "plan"}),
            ("POST", "/v1/subscription_items/si_123", 200, {"id": "si_123", "object": "subscription_item"}),
            ("GET", "/v1/subscriptions/sub_123", 200, subscription("fenxiao-custom-alpha-150000")),
        ]
    )
    services.change_plan(alpha, "custom")
    created = next(r for r in http.requests if r["path"] == "/v1/plans" and r["method"] == "POST")
    assert created["params"]["amount"] == "150000" and created["params"]["id"] == "fenxiao-custom-alpha-150000"
    account.refresh_from_db()
    assert account.stripe_plan_id == "fenxiao-custom-alpha-150000"
    assert Tenant.objects.get(pk=alpha.pk).tier == "custom"


def test_invoice_paid_and_payment_succeeded_send_one_receipt(
    alpha: Tenant, stripe_boundary: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core import mail

    subscribed(alpha)
    paid = {
        "id": "in_7",
        "object": "invoice",
        "customer": "cus_123",
        "status": "paid",
        "amount_due": 9900,
        "amount_paid": 9900,
        "currency": "cny",
        "number": "F-0007",
        "subscription": "sub_123",
    }
    stripe_boundary(
        [
            ("GET", "/v1/invoices/in_7", 200, paid),
            ("GET", "/v1/subscriptions/sub_123", 200, subscription("fenxiao-standard-monthly")),
        ]
        * 2
    )
    mail.outbox.clear()
    for n, kind in enumerate(("invoice.paid", "invoice.payment_succeeded")):
        body, signature = signed(
            {
                "id": f"evt_r{n}",
                "object": "event",
                "type": kind,
                "created": NOW,
                "data": {"object": {"id": "in_7", "object": "invoice", "customer": "cus_123"}},
            }
        )
        with django_capture_on_commit_callbacks(execute=True):
            platform_client().post(
                "/billing/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
            )
    assert [m.subject for m in mail.outbox] == [mail.outbox[0].subject] and "F-0007" not in mail.outbox[0].subject
    assert len(mail.outbox) == 1
