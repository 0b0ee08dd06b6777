"""Host routing, shop status, and what a login or token is worth on another shop."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from platform_core.tenancy import use_public_schema
from tenants.models import Domain
from tenants.services import tenant_resume, tenant_set_status, tenant_suspend
from tests.conftest import PASSWORD, in_shop, owner_client, platform_client, shop_client

pytestmark = pytest.mark.django_db


def test_unknown_host_gets_a_clear_404_page_never_a_shop(alpha: Any) -> None:
    response = Client(HTTP_HOST="nosuchshop.localhost").get("/")
    assert response.status_code == 404
    text = response.content.decode()
    assert "nosuchshop.localhost" in text and alpha.name not in text
    api = Client(HTTP_HOST="nosuchshop.localhost").get("/api/v1/console/shop/")
    assert api.status_code == 404 and api.json()["code"] == "unknown_host"


def test_unverified_custom_domain_does_not_route(alpha: Any) -> None:
    Domain.objects.create(domain="shop.example.com", tenant=alpha, kind="custom", verified=False)
    assert Client(HTTP_HOST="shop.example.com").get("/").status_code == 404
    Domain.objects.filter(domain="shop.example.com").update(verified=True)
    response = Client(HTTP_HOST="shop.example.com").get("/")
    assert response.status_code == 200 and alpha.name in response.content.decode()


def test_host_matching_ignores_case_and_port(alpha: Any) -> None:
    response = Client(HTTP_HOST="ALPHA.Localhost:8000").get("/")
    assert response.status_code == 200 and alpha.name in response.content.decode()


def test_platform_host_serves_signup_and_not_shop_pages() -> None:
    client = platform_client()
    assert client.get("/").status_code == 200
    assert client.get("/console/").status_code == 404


def test_each_shop_host_shows_its_own_shop(alpha: Any, beta: Any) -> None:
    assert alpha.name in shop_client(alpha).get("/").content.decode()
    page = shop_client(beta).get("/").content.decode()
    assert beta.name in page and alpha.name not in page


def test_suspended_shop_shows_a_notice_but_keeps_console_and_data(alpha: Any) -> None:
    tenant_suspend(alpha, actor=None, reason="unpaid invoice")
    storefront = shop_client(alpha).get("/")
    assert storefront.status_code == 503
    assert "unavailable" in storefront.content.decode() or "暂时" in storefront.content.decode()
    api = shop_client(alpha).get("/api/v1/anything/")
    assert api.status_code == 503 and api.json()["code"] == "shop_suspended"
    console = owner_client(alpha)
    home = console.get("/console/")
    assert home.status_code == 200
    assert "unpaid invoice" in home.content.decode()  # the merchant is told why
    assert shop_client(alpha).get("/console/login/").status_code == 200
    with in_shop(alpha):
        assert get_user_model().objects.filter(is_owner=True).exists()  # nothing deleted
    tenant_resume(alpha, actor=None)
    assert shop_client(alpha).get("/").status_code == 200


def test_closed_shop_answers_gone_and_keeps_its_console(alpha: Any) -> None:
    tenant_set_status(alpha, "closed", actor=None, reason="owner asked")
    assert shop_client(alpha).get("/").status_code == 410
    assert owner_client(alpha).get("/console/").status_code == 200


def test_a_console_session_of_one_shop_is_nothing_on_another(alpha: Any, beta: Any) -> None:
    client = owner_client(alpha)
    assert client.get("/console/").status_code == 200
    # the same browser (same cookies) on another shop's host is anonymous there
    client.defaults["HTTP_HOST"] = f"{beta.slug}.localhost"
    response = client.get("/console/")
    assert response.status_code == 302 and "/console/login/" in response["Location"]


def test_an_api_token_of_one_shop_is_refused_by_another(alpha: Any, beta: Any) -> None:
    response = shop_client(alpha).post(
        "/api/v1/console/token/",
        data=json.dumps({"email": "owner@alpha.test", "password": PASSWORD}),
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    with in_shop(alpha):
        assert Token.objects.filter(key=token).exists()
    use_public_schema()
    ok = shop_client(alpha).get("/api/v1/console/shop/", HTTP_AUTHORIZATION=f"Token {token}")
    assert ok.status_code == 200 and ok.json()["slug"] == "alpha"
    refused = shop_client(beta).get("/api/v1/console/shop/", HTTP_AUTHORIZATION=f"Token {token}")
    assert refused.status_code == 401


def test_shop_owners_cannot_log_in_to_the_operator_console(alpha: Any) -> None:
    response = platform_client().post("/operator/login/", {"username": "owner@alpha.test", "password": PASSWORD})
    assert response.status_code == 200  # the login form again, with an error
    assert "_auth_user_id" not in platform_client().session


def test_health_endpoints_answer_on_any_host() -> None:
    assert Client(HTTP_HOST="10.1.2.3").get("/healthz").json() == {"status": "ok"}
    ready = Client(HTTP_HOST="10.1.2.3").get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "cache": "ok"}


def test_readyz_reports_a_broken_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from platform_core import health

    def broken_cursor() -> Any:
        raise RuntimeError("db down")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")


def test_api_docs_and_schema_are_served_without_a_cdn() -> None:
    client = platform_client()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/signup/" in schema.content
    docs = client.get("/api/docs/").content.decode()
    assert "swagger" in docs.lower() and "cdn" not in docs.lower() and "//unpkg" not in docs


def test_shop_api_schema_lists_the_console_api(alpha: Any) -> None:
    schema = shop_client(alpha).get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/console/staff/" in schema.content


def test_shop_default_language_applies_unless_the_visitor_chose(alpha: Any, beta: Any) -> None:
    from tenants.models import Tenant

    Tenant.objects.filter(pk=beta.pk).update(locale="en")
    english = shop_client(beta).get("/console/login/")
    assert english["Content-Language"] == "en"
    chinese = shop_client(alpha).get("/console/login/")
    assert chinese["Content-Language"] == "zh-hans"
    chosen = shop_client(alpha)
    chosen.cookies["django_language"] = "en"
    assert chosen.get("/console/login/")["Content-Language"] == "en"


def test_static_assets_answer_on_unknown_hosts_too() -> None:
    response = Client(HTTP_HOST="nosuchshop.localhost").get("/static/fenxiao/base.css")
    assert response.status_code == 200
    assert b"--brand" in b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_a_verified_www_custom_domain_routes_to_its_shop(alpha: Any) -> None:
    Domain.objects.create(domain="www.brand.test", tenant=alpha, kind="custom", verified=True)
    response = Client(HTTP_HOST="www.brand.test").get("/")
    assert response.status_code == 200 and alpha.name in response.content.decode()
    assert Client(HTTP_HOST="www.alpha.localhost").get("/").status_code == 200  # www. of a shop host


@pytest.mark.parametrize("urlconf", ["platform_core.urls_public", "platform_core.urls_tenant"])
def test_the_openapi_schemas_generate_without_errors_or_warnings(urlconf: str, tmp_path: Any) -> None:
    from django.core.management import call_command

    call_command("spectacular", urlconf=urlconf, validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi:")
