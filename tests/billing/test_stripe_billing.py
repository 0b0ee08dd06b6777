"""Subscriptions through Stripe (localstripe): subscribe, payment failure → past due →
suspended → paid → restored, webhooks once each whatever the order, forged signatures."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from billing import dunning, services, webhooks
from billing.models import BillingAccount, Invoice, StripeEvent
from platform_core import stripe_gateway as gateway
from shop import staff as staff_services
from tenants.models import Tenant
from tests.billing.conftest import WEBHOOK_SECRET, WebhookSink, card, confirm_setup
from tests.conftest import PASSWORD, in_shop, owner_client, platform_client, shop_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stripe_on")]


def deliver(deliveries: list[tuple[bytes, str]], capture: Any) -> list[Any]:
    """POST localstripe's signed deliveries to our endpoint, running the published tasks."""
    responses = []
    for body, signature in deliveries:
        with capture(execute=True):
            responses.append(
                platform_client().post(
                    "/billing/stripe/webhook/",
                    data=body,
                    content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=signature,
                )
            )
    return responses


def renewal_is_declined(account: BillingAccount) -> str:
    """The card on file starts declining and the next renewal invoice fails: Stripe asks
    the bank (3-D Secure), which then declines the charge. Returns the invoice id."""
    v1 = gateway.v1()
    bad = card("4000008260003178")
    v1.payment_methods.attach(bad, params={"customer": account.stripe_customer_id})
    v1.customers.update(account.stripe_customer_id, params={"invoice_settings": {"default_payment_method": bad}})
    renewal = v1.invoices.create(
        params={"customer": account.stripe_customer_id, "subscription": account.stripe_subscription_id}
    )
    attempt = v1.invoices.pay(renewal.id).to_dict()
    intent = v1.payment_intents.retrieve(attempt["payment_intent"]).to_dict()
    request = urllib.request.Request(
        f"{settings.STRIPE_API_BASE}/v1/payment_intents/{intent['id']}/_authenticate",
        data=urlencode({"client_secret": intent["client_secret"], "success": "true"}).encode(),
        headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"},
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback localstripe: 402 declined
    return str(renewal.id)


def end_trial(tenant: Tenant) -> BillingAccount:
    account = services.account_for(tenant)
    BillingAccount.objects.filter(pk=account.pk).update(trial_ends_at=timezone.now() - timedelta(days=1))
    account.refresh_from_db()
    return account


def subscribe_via_console(tenant: Tenant, plan_key: str, number: str = "4242424242424242") -> Any:
    client = owner_client(tenant)
    form = client.get(f"/console/billing/card/?plan={plan_key}")
    assert form.status_code == 200
    page = form.content.decode()
    assert "js.stripe.com/v3/" in page
    secret = page.split('confirmCardSetup("', 1)[1].split('"', 1)[0]
    method = card(number)
    confirm_setup(secret, method)  # what Stripe.js does in the merchant's browser
    return client.post("/console/billing/card/", {"plan": plan_key, "payment_method": method})


def test_subscribing_with_a_card_activates_the_plan_and_its_tier(
    alpha: Tenant, webhook_sink: WebhookSink, django_capture_on_commit_callbacks: Any
) -> None:
    end_trial(alpha)
    response = subscribe_via_console(alpha, "pro_monthly")
    assert response.status_code == 302
    account = BillingAccount.objects.get(tenant=alpha)
    assert (account.provider, account.status, account.plan_key) == ("stripe", "active", "pro_monthly")
    assert (account.card_brand, account.card_last4) == ("visa", "4242")
    assert Tenant.objects.get(pk=alpha.pk).tier == "pro"  # the tier follows what was paid for
    assert account.current_period_end and account.current_period_end > timezone.now()
    deliveries = webhook_sink.wait_for(account.stripe_customer_id, "invoice.payment_succeeded")
    deliver(deliveries, django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(account=account)
    assert invoice.status == "paid" and invoice.amount_paid == 39_900
    page = owner_client(alpha).get("/console/billing/").content.decode()
    assert "4242" in page and invoice.external_id in page or invoice.number in page


def test_subscribing_during_the_trial_charges_when_the_trial_ends(beta: Tenant) -> None:
    account = services.account_for(beta)
    assert account.status == "trial" and services.has_access(account)
    subscribe_via_console(beta, "pro_monthly")
    account.refresh_from_db()
    subscription = gateway.v1().subscriptions.retrieve(account.stripe_subscription_id)
    assert account.trial_ends_at is not None
    assert subscription.trial_end == int(account.trial_ends_at.timestamp())  # no charge before the trial ends
    assert services.has_access(account)


def test_a_declined_card_is_refused_with_the_banks_message(alpha: Tenant) -> None:
    end_trial(alpha)
    # the card is accepted for saving, but the first charge is declined
    response = subscribe_via_console(alpha, "standard_monthly", number="4000000000000341")
    assert response.status_code == 400
    assert "declined" in response.content.decode().lower() or "拒" in response.content.decode()
    account = BillingAccount.objects.get(tenant=alpha)
    assert account.status != "active" and not account.stripe_subscription_id
    assert Tenant.objects.get(pk=alpha.pk).tier == "standard"


def test_downgrade_that_breaks_a_limit_is_refused_with_what_to_reduce(beta: Tenant) -> None:
    with in_shop(beta):
        for i in range(3):
            staff_services.staff_add(beta, email=f"s{i}@beta.test", name="", password=PASSWORD)
    end_trial(beta)
    subscribe_via_console(beta, "pro_monthly")
    response = owner_client(beta).post("/console/billing/plan/", {"plan": "standard_monthly"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "4" in page and "2" in page and 'id="refusal"' in page
    with pytest.raises(services.BillingError) as exc:
        services.change_plan(beta, "standard_monthly")
    assert exc.value.code == "limits_exceeded"
    assert exc.value.details == [
        {"feature": "staff_seats", "label": exc.value.details[0]["label"], "limit": 2, "used": 4, "reduce_by": 2}
    ]
    assert BillingAccount.objects.get(tenant=beta).plan_key == "pro_monthly"


def test_payment_failure_past_due_suspended_paid_restored(
    alpha: Tenant, webhook_sink: WebhookSink, django_capture_on_commit_callbacks: Any
) -> None:
    end_trial(alpha)
    subscribe_via_console(alpha, "standard_monthly")
    account = BillingAccount.objects.get(tenant=alpha)
    renewal_id = renewal_is_declined(account)
    mail.outbox.clear()
    deliver(
        webhook_sink.wait_for(account.stripe_customer_id, "invoice.payment_failed"), django_capture_on_commit_callbacks
    )
    account.refresh_from_db()
    assert account.status == "past_due" and account.past_due_since is not None
    assert [m.to for m in mail.outbox] == [["owner@alpha.test"]]
    console = owner_client(alpha).get("/console/").content.decode()
    assert 'id="billing-banner"' in console
    assert shop_client(alpha).get("/").status_code == 200  # still open during the grace period

    dunning.run_dunning(timezone.now() + timedelta(days=8))
    tenant = Tenant.objects.get(pk=alpha.pk)
    assert (tenant.status, tenant.status_by) == ("suspended", "billing")
    assert shop_client(alpha).get("/").status_code == 503
    assert owner_client(alpha).get("/console/billing/").status_code == 200  # billing stays reachable

    # the merchant enters a working card: the overdue invoice is paid and the shop reopens at once
    client = owner_client(alpha)
    page = client.get("/console/billing/card/").content.decode()
    secret = page.split('confirmCardSetup("', 1)[1].split('"', 1)[0]
    good = card()
    confirm_setup(secret, good)
    assert client.post("/console/billing/card/", {"payment_method": good}).status_code == 302
    account.refresh_from_db()
    assert account.status == "active" and account.past_due_since is None
    assert Tenant.objects.get(pk=alpha.pk).status == "active"
    assert shop_client(alpha).get("/").status_code == 200
    assert Invoice.objects.get(external_id=renewal_id).status == "paid"


def test_a_suspension_by_an_operator_is_not_lifted_by_paying(alpha: Tenant) -> None:
    from tenants.services import tenant_suspend

    end_trial(alpha)
    subscribe_via_console(alpha, "standard_monthly")
    tenant_suspend(alpha, actor=None, reason="fraud review")
    account = services.account_for(alpha)
    with gateway_transaction():
        services._settle(account, reason="test")
    assert Tenant.objects.get(pk=alpha.pk).status == "suspended"


def gateway_transaction() -> Any:
    from django.db import transaction

    return transaction.atomic()


def test_webhook_replayed_three_times_has_one_effect(
    alpha: Tenant, webhook_sink: WebhookSink, django_capture_on_commit_callbacks: Any
) -> None:
    end_trial(alpha)
    subscribe_via_console(alpha, "standard_monthly")
    account = BillingAccount.objects.get(tenant=alpha)
    deliveries = webhook_sink.wait_for(account.stripe_customer_id, "invoice.payment_succeeded")
    mail.outbox.clear()
    responses = deliver(deliveries * 3, django_capture_on_commit_callbacks)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.json()["duplicate"] for r in responses] == [False, True, True]
    event_id = json.loads(deliveries[0][0])["id"]
    assert StripeEvent.objects.filter(event_id=event_id).count() == 1
    assert StripeEvent.objects.get(event_id=event_id).processed_at is not None
    assert len(mail.outbox) == 1  # one receipt, not three
    assert webhooks.process_event(event_id) == "already processed"


def test_out_of_order_delivery_ends_in_stripes_current_state(
    alpha: Tenant, webhook_sink: WebhookSink, django_capture_on_commit_callbacks: Any
) -> None:
    end_trial(alpha)
    subscribe_via_console(alpha, "standard_monthly")
    account = BillingAccount.objects.get(tenant=alpha)
    v1 = gateway.v1()
    renewal_id = renewal_is_declined(account)
    failed = webhook_sink.wait_for(account.stripe_customer_id, "invoice.payment_failed")
    good = card()
    v1.payment_methods.attach(good, params={"customer": account.stripe_customer_id})
    v1.customers.update(account.stripe_customer_id, params={"invoice_settings": {"default_payment_method": good}})
    v1.invoices.pay(renewal_id)
    deadline = time.time() + 15
    succeeded: list[tuple[bytes, str]] = []
    while not succeeded and time.time() < deadline:
        succeeded = [
            d
            for d in webhook_sink.wait_for(account.stripe_customer_id, "invoice.payment_succeeded")
            if json.loads(d[0])["data"]["object"]["id"] == renewal_id
        ]
        time.sleep(0.2)
    # the success arrives first, the older failure after it
    deliver(succeeded + failed, django_capture_on_commit_callbacks)
    account.refresh_from_db()
    assert account.status == "active" and account.past_due_since is None
    assert Invoice.objects.get(external_id=renewal_id).status == "paid"


def test_forged_signature_is_refused_and_changes_nothing(alpha: Tenant) -> None:
    body = json.dumps(
        {"id": "evt_forged", "type": "invoice.paid", "data": {"object": {"id": "in_x", "customer": "cus_x"}}}
    )
    stamp = int(time.time())
    for signature in (f"t={stamp},v1={'0' * 64}", "", "garbage"):
        response = platform_client().post(
            "/billing/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_signature_must_match_the_raw_body(alpha: Tenant, webhook_sink: WebhookSink) -> None:
    end_trial(alpha)
    subscribe_via_console(alpha, "standard_monthly")
    account = BillingAccount.objects.get(tenant=alpha)
    body, signature = webhook_sink.wait_for(account.stripe_customer_id, "invoice.payment_succeeded")[0]
    tampered = body.replace(b'"paid"', b'"open"', 1)
    response = platform_client().post(
        "/billing/stripe/webhook/", data=tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 400
    assert WEBHOOK_SECRET  # the secret localstripe signed with is the one configured


def test_cancel_at_period_end_and_resume(alpha: Tenant) -> None:
    end_trial(alpha)
    subscribe_via_console(alpha, "standard_monthly")
    client = owner_client(alpha)
    client.post("/console/billing/cancel/")
    account = BillingAccount.objects.get(tenant=alpha)
    assert account.cancel_at_period_end
    assert 'id="billing-banner"' in client.get("/console/").content.decode()
    client.post("/console/billing/cancel/", {"resume": "1"})
    account.refresh_from_db()
    assert not account.cancel_at_period_end


def test_staff_who_are_not_the_owner_cannot_change_billing(beta: Tenant) -> None:
    from tests.conftest import login_client

    with in_shop(beta):
        staff_services.staff_add(beta, email="clerk@beta.test", name="", password=PASSWORD)
    clerk = login_client(beta, "clerk@beta.test")
    assert clerk.get("/console/billing/").status_code == 200
    assert clerk.post("/console/billing/plan/", {"plan": "standard_monthly"}).status_code == 403
    assert clerk.get("/console/billing/card/?plan=pro_monthly").status_code == 403


def test_plan_prices_shown_are_the_ones_in_stripe(alpha: Tenant) -> None:
    page = owner_client(alpha).get("/console/billing/").content.decode()
    assert "¥399.00" in page and "¥3,990.00" in page  # as billing_sync_plans created them in Stripe


def test_a_subscription_deleted_in_stripe_starts_the_dunning_clock(
    alpha: Tenant, webhook_sink: WebhookSink, django_capture_on_commit_callbacks: Any
) -> None:
    end_trial(alpha)
    subscribe_via_console(alpha, "standard_monthly")
    account = BillingAccount.objects.get(tenant=alpha)
    gateway.v1().subscriptions.cancel(account.stripe_subscription_id)
    deliver(
        webhook_sink.wait_for(account.stripe_customer_id, "customer.subscription.deleted"),
        django_capture_on_commit_callbacks,
    )
    account.refresh_from_db()
    assert account.status == "canceled" and account.past_due_since is not None
    dunning.run_dunning(timezone.now() + timedelta(days=8))
    assert Tenant.objects.get(pk=alpha.pk).status_by == "billing"
