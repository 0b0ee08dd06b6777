"""Tiers and feature flags: one registry, per-shop overrides, one helper, one DRF
permission, one template tag; limits enforced through the same helper."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import translation
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_core import features
from platform_core.api import requires_feature
from platform_core.models import OperatorAuditEntry
from shop import staff as staff_services
from tenants.services import tenant_clear_feature_override, tenant_set_feature_override
from tests.conftest import PASSWORD, in_shop, owner_client

pytestmark = pytest.mark.django_db


def test_the_registry_follows_the_tier_matrix(alpha: Any, beta: Any) -> None:
    assert alpha.tier == "standard" and beta.tier == "pro"
    assert features.feature_value(alpha, "products") == 500
    assert features.feature_value(beta, "products") == 20_000
    assert features.feature_value(alpha, "products", tier="custom") is None  # unlimited
    assert features.feature_value(alpha, "distribution_levels") == 1
    assert features.feature_value(beta, "distribution_levels") == 2
    assert not features.has_feature(alpha, "flash_sales") and features.has_feature(beta, "flash_sales")
    assert not features.has_feature(beta, "template_overrides")
    assert features.has_feature(alpha, "coupons")


def test_require_feature_names_the_feature_and_the_tier_to_upgrade_to(alpha: Any) -> None:
    with pytest.raises(features.FeatureNotAvailable) as exc:
        features.require_feature(alpha, "flash_sales")
    payload = exc.value.as_dict()
    assert payload["code"] == "feature_not_available"
    assert payload["feature"] == "flash_sales"
    assert payload["upgrade"]["tier"] == "pro"


def test_operator_override_turns_a_feature_on_for_one_shop_only(alpha: Any) -> None:
    from tenants.models import Tenant

    tenant_set_feature_override(alpha, "flash_sales", True, actor=None, reason="pilot")
    fresh = Tenant.objects.get(pk=alpha.pk)
    assert features.has_feature(fresh, "flash_sales")
    other_standard = Tenant(tier="standard")
    assert not features.has_feature(other_standard, "flash_sales")
    entry = OperatorAuditEntry.objects.get(action="shop.feature_override")
    assert (entry.before, entry.after, entry.reason) == ({}, {"flash_sales": True}, "pilot")
    tenant_clear_feature_override(fresh, "flash_sales", actor=None)
    assert not features.has_feature(Tenant.objects.get(pk=alpha.pk), "flash_sales")


@pytest.mark.parametrize(
    ("key", "value"),
    [("flash_sales", 1), ("products", -1), ("products", "many"), ("distribution_levels", 4), ("no_such", True)],
)
def test_bad_override_values_are_refused(alpha: Any, key: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        tenant_set_feature_override(alpha, key, value, actor=None)
    assert not alpha.feature_overrides.exists()


def test_three_levels_only_by_override_and_never_more(beta: Any) -> None:
    tenant_set_feature_override(beta, "distribution_levels", 3, actor=None, reason="legal review done")
    assert features.feature_value(beta, "distribution_levels") == 3
    assert features.REGISTRY["distribution_levels"].maximum == features.DISTRIBUTION_LEVEL_CAP == 3


class FlashSaleProbe(APIView):
    permission_classes = [requires_feature("flash_sales")]
    authentication_classes: list[Any] = []

    def get(self, request: Any) -> Response:
        return Response({"ok": True})


def _call(tenant: Any) -> Response:
    request = RequestFactory().get("/probe")
    request.tenant = tenant
    response = FlashSaleProbe.as_view()(request)
    response.render()
    return response


def test_drf_permission_answers_403_with_code_and_upgrade_hint(alpha: Any, beta: Any) -> None:
    denied = _call(alpha)
    assert denied.status_code == 403
    body = json.loads(denied.content)
    assert body["code"] == "feature_not_available" and body["upgrade"]["tier"] == "pro"
    assert _call(beta).status_code == 200


def test_template_tag_reads_the_current_shop(alpha: Any, beta: Any) -> None:
    template = Template('{% load features %}{% feature "flash_sales" as on %}{% if on %}ON{% else %}OFF{% endif %}')
    for tenant, expected in ((alpha, "OFF"), (beta, "ON")):
        request = RequestFactory().get("/")
        request.tenant = tenant
        assert template.render(Context({"request": request})) == expected


def test_staff_seat_limit_is_enforced_with_the_upgrade_hint(alpha: Any) -> None:
    client = owner_client(alpha)
    first = client.post(
        "/api/v1/console/staff/",
        data=json.dumps({"email": "one@alpha.test", "name": "One", "password": PASSWORD}),
        content_type="application/json",
    )
    assert first.status_code == 201  # owner + 1 = the standard tier's 2 seats
    second = client.post(
        "/api/v1/console/staff/",
        data=json.dumps({"email": "two@alpha.test", "name": "Two", "password": PASSWORD}),
        content_type="application/json",
    )
    assert second.status_code == 403
    body = second.json()
    assert body["code"] == "limit_reached" and body["limit"] == 2 and body["used"] == 2
    assert body["upgrade"]["tier"] == "pro"
    with in_shop(alpha):
        assert not staff_services.staff_list().filter(email="two@alpha.test").exists()
    tenant_set_feature_override(alpha, "staff_seats", 3, actor=None, reason="seasonal help")
    third = client.post(
        "/api/v1/console/staff/",
        data=json.dumps({"email": "two@alpha.test", "name": "Two", "password": PASSWORD}),
        content_type="application/json",
    )
    assert third.status_code == 201


def test_reactivating_staff_counts_against_the_limit(alpha: Any) -> None:
    with in_shop(alpha):
        one = staff_services.staff_add(alpha, email="one@alpha.test", name="", password=PASSWORD)
        staff_services.staff_set_active(alpha, one, False)
        staff_services.staff_add(alpha, email="two@alpha.test", name="", password=PASSWORD)
        with pytest.raises(features.LimitReached):
            staff_services.staff_set_active(alpha, one, True)


def test_downgrade_check_lists_exactly_what_to_reduce(beta: Any) -> None:
    with in_shop(beta):
        for i in range(3):
            staff_services.staff_add(beta, email=f"s{i}@beta.test", name="", password=PASSWORD)
    with translation.override("en"):
        problems = features.limits_exceeded_for_tier(beta, "standard")
    assert problems == [{"feature": "staff_seats", "label": "Staff seats", "limit": 2, "used": 4, "reduce_by": 2}]
    assert features.limits_exceeded_for_tier(beta, "pro") == []


def test_html_console_shows_the_limit_message(alpha: Any) -> None:
    client = owner_client(alpha)
    client.post("/console/staff/", {"email": "one@alpha.test", "name": "One", "password": PASSWORD})
    response = client.post("/console/staff/", {"email": "two@alpha.test", "name": "Two", "password": PASSWORD})
    assert response.status_code == 403
    assert "/console/billing/" in response.content.decode()
