"""Operator console on the platform host: find shops, suspend/resume with a reason,
change tier, set overrides; every action audited with before/after."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from platform_core.models import FeatureOverride, OperatorAuditEntry
from tenants.models import Tenant
from tests import operators
from tests.conftest import PASSWORD, platform_client, shop_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    user = get_user_model().objects.create_superuser("op@fenxiao.test", PASSWORD)
    return operators.sign_in(platform_client(), user)


def test_operator_logs_in_and_lists_shops_with_tier_status_owner_and_size(alpha: Any, beta: Any) -> None:
    operators.enrol(get_user_model().objects.create_superuser("op@fenxiao.test", PASSWORD))
    client = platform_client()
    login = operators.log_in(client, "op@fenxiao.test", PASSWORD)
    assert login.status_code == 302 and login["Location"] == "/operator/"
    index = client.get("/operator/").content.decode()
    assert "Shops" in index or "店" in index
    page = client.get("/operator/tenants/tenant/").content.decode()
    for text in ("alpha", "beta", "owner@alpha.test", "standard", "pro"):
        assert text in page
    assert re.search(r"\d+(\.\d)? (KB|MB)", page)  # each shop's schema size
    assert "_platform" not in page  # the platform itself is not a shop


def test_operator_finds_shops_by_slug_name_email_or_host(operator: Client, alpha: Any) -> None:
    for query in ("alph", "Alpha 分销", "owner@alpha", "alpha.localhost"):
        page = operator.get("/operator/tenants/tenant/", {"q": query}).content.decode()
        assert "owner@alpha.test" in page and "owner@beta.test" not in page, query


def test_suspend_needs_a_reason_then_suspends_and_audits(operator: Client, alpha: Any) -> None:
    url = f"/operator/tenants/tenant/{alpha.pk}/status/"
    refused = operator.post(url, {"status": "suspended", "reason": ""})
    assert refused.status_code == 400
    assert Tenant.objects.get(pk=alpha.pk).status == "active"
    assert not OperatorAuditEntry.objects.exists()
    done = operator.post(url, {"status": "suspended", "reason": "chargebacks"})
    assert done.status_code == 302
    tenant = Tenant.objects.get(pk=alpha.pk)
    assert (tenant.status, tenant.status_reason) == ("suspended", "chargebacks")
    entry = OperatorAuditEntry.objects.get()
    assert entry.actor_email == "op@fenxiao.test" and entry.action == "shop.suspend"
    assert entry.before["status"] == "active" and entry.after["status"] == "suspended"
    assert shop_client(alpha).get("/").status_code == 503
    operator.post(url, {"status": "active", "reason": ""})
    assert Tenant.objects.get(pk=alpha.pk).status == "active"
    assert OperatorAuditEntry.objects.filter(action="shop.resume").count() == 1


def test_bulk_suspend_asks_for_a_reason(operator: Client, alpha: Any, beta: Any) -> None:
    data = {"action": "suspend_selected", "_selected_action": [alpha.pk, beta.pk]}
    confirm = operator.post("/operator/tenants/tenant/", data)
    assert confirm.status_code == 200 and "reason" in confirm.content.decode()
    assert Tenant.objects.filter(status="suspended").count() == 0
    operator.post("/operator/tenants/tenant/", {**data, "apply": "1", "reason": "abuse report"})
    assert Tenant.objects.filter(status="suspended", status_reason="abuse report").count() == 2
    assert OperatorAuditEntry.objects.filter(action="shop.suspend").count() == 2


def test_tier_change_through_the_change_form_is_audited(operator: Client, alpha: Any) -> None:
    url = f"/operator/tenants/tenant/{alpha.pk}/change/"
    form = operator.get(url)
    assert form.status_code == 200
    response = operator.post(
        url,
        {
            "name": alpha.name,
            "tier": "pro",
            "locale": "zh-hans",
            "currency": "CNY",
            "domains-TOTAL_FORMS": "1",
            "domains-INITIAL_FORMS": "1",
            "domains-MIN_NUM_FORMS": "0",
            "domains-MAX_NUM_FORMS": "1000",
            "domains-0-id": str(alpha.domains.get().pk),
            "domains-0-tenant": str(alpha.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Tenant.objects.get(pk=alpha.pk).tier == "pro"
    entry = OperatorAuditEntry.objects.get(action="shop.change_tier")
    assert (entry.before["tier"], entry.after["tier"]) == ("standard", "pro")


def test_feature_override_page_sets_validates_and_audits(operator: Client, alpha: Any) -> None:
    url = f"/operator/tenants/tenant/{alpha.pk}/overrides/"
    assert "flash_sales" in operator.get(url).content.decode()
    bad = operator.post(url, {"key": "distribution_levels", "value": "5", "reason": "x"})
    assert bad.status_code == 400 and not FeatureOverride.objects.exists()
    ok = operator.post(url, {"key": "flash_sales", "value": "true", "reason": "pilot"})
    assert ok.status_code == 302
    assert FeatureOverride.objects.get(tenant=alpha).value is True
    assert OperatorAuditEntry.objects.filter(action="shop.feature_override").exists()


def test_shops_cannot_be_deleted_from_the_console(operator: Client, alpha: Any) -> None:
    response = operator.get(f"/operator/tenants/tenant/{alpha.pk}/delete/")
    assert response.status_code == 403
    assert Tenant.objects.filter(pk=alpha.pk).exists()


def test_audit_log_is_read_only(operator: Client, alpha: Any) -> None:
    from tenants.services import tenant_suspend

    tenant_suspend(alpha, actor=None, reason="test")
    entry = OperatorAuditEntry.objects.get()
    page = operator.get("/operator/platform_core/operatorauditentry/")
    assert page.status_code == 200 and "shop.suspend" in page.content.decode()
    assert (
        operator.post(f"/operator/platform_core/operatorauditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_operator_console_is_not_served_on_shop_hosts(alpha: Any) -> None:
    assert shop_client(alpha).get("/operator/").status_code == 404


def test_non_staff_platform_users_are_refused() -> None:
    get_user_model().objects.create_user("user@fenxiao.test", PASSWORD)
    client = platform_client()
    client.post("/operator/login/", {"username": "user@fenxiao.test", "password": PASSWORD})
    assert client.get("/operator/").status_code == 302


def test_changes_to_operator_accounts_are_audited(operator: Client) -> None:
    user = get_user_model().objects.create_user("helper@fenxiao.test", PASSWORD)
    response = operator.post(
        f"/operator/accounts/user/{user.pk}/change/",
        {"email": "helper@fenxiao.test", "name": "Helper", "is_staff": "on", "is_active": "on"},
    )
    assert response.status_code == 302
    entry = OperatorAuditEntry.objects.get(action="operator.user_changed")
    assert entry.before["is_staff"] is False and entry.after["is_staff"] is True
