"""Billing without Stripe (the embedded demo): the platform's trial, dunning to suspension,
operator-recorded payments restoring the shop, custom quotes; tenant isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from billing import dunning, services
from billing.models import BillingAccount, Invoice
from platform_core.models import OperatorAuditEntry
from tenants.models import Tenant
from tenants.services import tenant_suspend
from tests import operators
from tests.conftest import PASSWORD, owner_client, platform_client, shop_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    user = get_user_model().objects.create_superuser("op@fenxiao.test", PASSWORD)
    return operators.sign_in(platform_client(), user)


def test_a_new_shop_starts_on_the_platforms_free_trial(alpha: Tenant) -> None:
    account = services.account_for(alpha)
    assert (account.provider, account.status, account.plan_key) == ("offline", "trial", "standard_monthly")
    assert account.trial_ends_at == alpha.created_at + timedelta(days=14)
    assert services.has_access(account)
    page = owner_client(alpha).get("/console/billing/").content.decode()
    assert "Offline billing" in page or "线下" in page


def test_trial_warning_then_overdue_then_suspended_then_operator_payment_restores(
    alpha: Tenant, beta: Tenant, operator: Client, django_capture_on_commit_callbacks: Any
) -> None:
    other = services.account_for(beta)  # another shop, later in its trial: untouched throughout
    BillingAccount.objects.filter(pk=other.pk).update(trial_ends_at=timezone.now() + timedelta(days=400))
    account = services.account_for(alpha)
    end = account.trial_ends_at
    assert end is not None
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):  # mails leave once the transaction commits
        dunning.run_dunning(end - timedelta(days=2))
        dunning.run_dunning(end - timedelta(days=1))
    assert [m.to for m in mail.outbox] == [["owner@alpha.test"]], [
        (m.to, m.subject) for m in mail.outbox
    ]  # warned once

    dunning.run_dunning(end + timedelta(hours=1))
    account.refresh_from_db()
    assert account.status == "past_due" and account.past_due_since == end
    dunning.run_dunning(end + timedelta(days=6))
    assert Tenant.objects.get(pk=alpha.pk).status == "active"  # still in the grace period
    dunning.run_dunning(end + timedelta(days=7, hours=1))
    dunning.run_dunning(end + timedelta(days=8))  # idempotent
    tenant = Tenant.objects.get(pk=alpha.pk)
    assert (tenant.status, tenant.status_by) == ("suspended", "billing")
    assert OperatorAuditEntry.objects.filter(tenant=alpha, action="shop.suspend").count() == 1
    assert shop_client(alpha).get("/").status_code == 503
    assert 'id="billing-banner"' in owner_client(alpha).get("/console/").content.decode()

    bad = operator.post(f"/operator/billing/billingaccount/{account.pk}/offline-payment/", {"months": 0, "amount": -5})
    assert bad.status_code == 400 and not Invoice.objects.exists()
    ok = operator.post(
        f"/operator/billing/billingaccount/{account.pk}/offline-payment/",
        {"plan": "standard_yearly", "months": 12, "amount": 99_000, "reference": "BANK-20261125-01"},
    )
    assert ok.status_code == 302
    account.refresh_from_db()
    assert account.status == "active" and account.past_due_since is None
    assert account.plan_key == "standard_yearly"
    assert account.current_period_end is not None and account.current_period_end > timezone.now() + timedelta(days=359)
    assert Tenant.objects.get(pk=alpha.pk).status == "active"
    assert shop_client(alpha).get("/").status_code == 200
    invoice = Invoice.objects.get(account=account)
    assert (invoice.provider, invoice.status, invoice.amount_paid, invoice.reference) == (
        "offline",
        "paid",
        99_000,
        "BANK-20261125-01",
    )
    assert "BANK-20261125-01" in owner_client(alpha).get("/console/billing/").content.decode()
    audit = OperatorAuditEntry.objects.get(action="billing.offline_payment")
    assert audit.actor_email == "op@fenxiao.test" and audit.after["amount"] == 99_000

    # the paid period ends: overdue again, then suspended after the grace period
    paid_through = account.current_period_end
    dunning.run_dunning(paid_through + timedelta(hours=1))
    account.refresh_from_db()
    assert account.status == "past_due"
    dunning.run_dunning(paid_through + timedelta(days=8))
    assert Tenant.objects.get(pk=alpha.pk).status_by == "billing"
    assert Tenant.objects.get(pk=beta.pk).status == "active"
    assert BillingAccount.objects.get(pk=other.pk).status == "trial"


def test_paying_never_lifts_an_operators_suspension(alpha: Tenant) -> None:
    tenant_suspend(alpha, actor=None, reason="abuse report")
    account = services.account_for(alpha)
    dunning.offline_record_payment(account, months=1, amount=9_900, reference="cash", actor=None)
    tenant = Tenant.objects.get(pk=alpha.pk)
    assert (tenant.status, tenant.status_reason) == ("suspended", "abuse report")


def test_offline_upgrade_is_a_request_the_operators_payment_fulfils(alpha: Tenant, operator: Client) -> None:
    account = services.account_for(alpha)
    dunning.offline_record_payment(account, months=1, amount=9_900, reference="first", actor=None)
    client = owner_client(alpha)
    assert client.post("/console/billing/plan/", {"plan": "pro_monthly"}).status_code == 302
    assert Tenant.objects.get(pk=alpha.pk).tier == "standard"  # not before it is paid for
    account.refresh_from_db()
    assert account.requested_plan_key == "pro_monthly"
    assert 'id="requested-plan"' in client.get("/console/billing/").content.decode()
    form = operator.get(f"/operator/billing/billingaccount/{account.pk}/offline-payment/").content.decode()
    assert 'value="pro_monthly" selected' in form
    operator.post(
        f"/operator/billing/billingaccount/{account.pk}/offline-payment/",
        {"plan": "pro_monthly", "months": 1, "amount": 39_900, "reference": "upgrade"},
    )
    assert Tenant.objects.get(pk=alpha.pk).tier == "pro"
    assert client.post("/console/billing/plan/", {"plan": "gold"}).status_code == 400


def test_offline_downgrade_applies_at_once_within_limits(beta: Tenant) -> None:
    account = services.account_for(beta)
    dunning.offline_record_payment(account, months=1, amount=39_900, reference="pro", actor=None)
    assert owner_client(beta).post("/console/billing/plan/", {"plan": "standard_monthly"}).status_code == 302
    assert Tenant.objects.get(pk=beta.pk).tier == "standard"


def test_operator_quotes_a_custom_price_the_merchant_can_take(alpha: Tenant, operator: Client) -> None:
    account = services.account_for(alpha)
    page = operator.get(f"/operator/billing/billingaccount/{account.pk}/change/")
    assert page.status_code == 200
    response = operator.post(
        f"/operator/billing/billingaccount/{account.pk}/change/",
        {
            "custom_monthly_amount": "150000",
            "invoices-TOTAL_FORMS": "0",
            "invoices-INITIAL_FORMS": "0",
            "invoices-MIN_NUM_FORMS": "0",
            "invoices-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    account.refresh_from_db()
    assert account.custom_monthly_amount == 150_000
    assert OperatorAuditEntry.objects.filter(action="billing.custom_price").exists()
    billing_page = owner_client(alpha).get("/console/billing/").content.decode()
    assert "¥1,500.00" in billing_page
    owner_client(alpha).post("/console/billing/plan/", {"plan": "custom"})
    assert Tenant.objects.get(pk=alpha.pk).tier == "custom"


def test_operators_see_billing_state_mrr_and_failed_payments(alpha: Tenant, beta: Tenant, operator: Client) -> None:
    a = services.account_for(alpha)
    dunning.offline_record_payment(a, months=1, amount=9_900, reference="x", actor=None)
    b = services.account_for(beta)
    BillingAccount.objects.filter(pk=b.pk).update(plan_key="pro_yearly", status="active")
    Invoice.objects.create(
        account=b,
        provider="stripe",
        external_id="in_failed",
        status="open",
        currency="cny",
        amount_due=39_900,
        payment_failed_at=timezone.now(),
    )
    assert services.mrr_by_tier() == {"standard": 9_900, "pro": 399_000 // 12, "custom": 0}
    index = operator.get("/operator/").content.decode()
    assert "MRR" in index and "¥99.00" in index
    listing = operator.get("/operator/billing/billingaccount/").content.decode()
    assert "alpha" in listing.lower() and "beta" in listing.lower()
    failed = operator.get("/operator/billing/invoice/?payment_failed_at__isempty=0").content.decode()
    assert "in_failed" in failed or "39900" in failed


def test_one_shops_billing_is_invisible_to_another(alpha: Tenant, beta: Tenant) -> None:
    dunning.offline_record_payment(
        services.account_for(alpha), months=1, amount=9_900, reference="ALPHA-REF", actor=None
    )
    page = owner_client(beta).get("/console/billing/").content.decode()
    assert "ALPHA-REF" not in page
    api = owner_client(beta).get("/api/v1/console/billing/").json()
    assert api["invoices"] == [] and api["status"] == "trial"
    mine = owner_client(alpha).get("/api/v1/console/billing/").json()
    assert mine["invoices"][0]["status"] == "paid" and mine["status"] == "active"
    assert shop_client(beta).get("/api/v1/console/billing/").status_code == 401


def test_webhook_endpoint_lives_on_the_platform_host_only(alpha: Tenant) -> None:
    assert (
        shop_client(alpha).post("/billing/stripe/webhook/", data="{}", content_type="application/json").status_code
        == 404
    )
    assert platform_client().get("/billing/stripe/webhook/").status_code == 405


def test_without_stripe_the_card_form_is_not_offered(alpha: Tenant) -> None:
    assert owner_client(alpha).get("/console/billing/card/").status_code == 404


def test_signup_opens_the_billing_account_with_the_trial() -> None:
    from tenants.services import shop_signup

    result = shop_signup(name="New", slug="new-shop", email="new@shop.test", password=PASSWORD, tier="pro")
    account = BillingAccount.objects.get(tenant=result.tenant)
    assert (account.status, account.plan_key) == ("trial", "pro_monthly")


def test_console_banner_says_the_trial_ended_and_by_when_to_pay(alpha: Tenant) -> None:
    account = services.account_for(alpha)
    BillingAccount.objects.filter(pk=account.pk).update(trial_ends_at=timezone.now() - timedelta(days=1))
    with translation.override("en"):
        page = owner_client(alpha).get("/console/", HTTP_ACCEPT_LANGUAGE="en")
    client = owner_client(alpha)
    client.cookies["django_language"] = "en"
    text = client.get("/console/").content.decode()
    assert "Your free trial has ended" in text
    account.refresh_from_db()
    assert account.trial_ends_at is not None
    # the page shows dates in the shop's time zone (Asia/Shanghai), not UTC
    deadline = timezone.localtime(account.trial_ends_at + timedelta(days=7)).date().isoformat()
    assert deadline in text and page.status_code == 200
