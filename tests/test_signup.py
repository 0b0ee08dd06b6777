"""Self-service signup: a live shop with its owner logged in, from the pool or by DDL
replay, with field-level errors and nothing half-made on failure."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.models import Domain, PooledSchema, Tenant
from tenants.schemas import expected_fingerprint, refill_pool, schema_exists
from tenants.services import shop_signup
from tests.conftest import PASSWORD, platform_client, shop_client

pytestmark = pytest.mark.django_db


def signup(client: Any = None, **overrides: Any) -> Any:
    data = {
        "name": "茶馆 Tea House",
        "slug": "tea-house",
        "email": "owner@tea.test",
        "password": PASSWORD,
        "tier": "pro",
    }
    data.update(overrides)
    client = client or platform_client()
    return client.post("/api/v1/signup/", data=json.dumps(data), content_type="application/json")


def test_api_signup_from_pool_creates_a_live_shop_with_its_owner() -> None:
    refill_pool(target=1)
    pooled = PooledSchema.objects.get()
    response = signup()
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["provisioned_from"] == "pool"
    assert body["shop"]["url"] == "http://tea-house.localhost:8000/"
    timing = dict(part.strip().split(";dur=") for part in response["Server-Timing"].split(","))
    assert set(timing) == {"hash", "txn", "view"}  # where the time went, for the browser's tools
    assert float(timing["view"]) >= float(timing["hash"]) + float(timing["txn"])
    tenant = Tenant.objects.get(slug="tea-house")
    assert (tenant.name, tenant.tier, tenant.status, tenant.owner_email) == (
        "茶馆 Tea House",
        "pro",
        "active",
        "owner@tea.test",
    )
    assert tenant.schema_name == "shop_tea_house"
    assert Domain.objects.get(tenant=tenant).domain == "tea-house.localhost"
    # the pooled schema became the shop's schema: renamed, not copied
    assert not schema_exists(pooled.schema_name) and schema_exists("shop_tea_house")
    assert not PooledSchema.objects.exists()
    with schema_context(tenant.schema_name):
        owner = get_user_model().objects.get()
        assert (owner.email, owner.is_owner, owner.is_staff) == ("owner@tea.test", True, True)
        assert owner.check_password(PASSWORD)
    # the owner is unknown on the platform and to other shops
    assert not get_user_model().objects.filter(email="owner@tea.test").exists()
    # the storefront answers on the new host
    storefront = shop_client(tenant).get("/")
    assert storefront.status_code == 200 and "茶馆 Tea House" in storefront.content.decode()


def test_signup_with_an_empty_pool_replays_the_ddl() -> None:
    assert not PooledSchema.objects.exists()
    response = signup(slug="no-pool")
    assert response.status_code == 201
    assert response.json()["provisioned_from"] == "replay"
    with schema_context("shop_no_pool"):
        assert get_user_model().objects.filter(is_owner=True).count() == 1


def test_stale_pooled_schema_is_not_handed_out_but_upgraded_by_the_refill() -> None:
    refill_pool(target=1)
    entry = PooledSchema.objects.get()
    # make it miss a migration: drop the token table and forget its migrations
    with schema_context(entry.schema_name), __import__("django.db").db.connection.cursor() as cursor:
        cursor.execute("DROP TABLE authtoken_token; DELETE FROM django_migrations WHERE app = 'authtoken'")
    PooledSchema.objects.filter(pk=entry.pk).update(fingerprint="old")
    response = signup(slug="fresh-shop")
    assert response.json()["provisioned_from"] == "replay"  # the stale one was skipped
    assert PooledSchema.objects.filter(pk=entry.pk).exists()
    result = refill_pool(target=1)
    assert result["upgraded"] == 1
    entry.refresh_from_db()
    assert entry.fingerprint == expected_fingerprint()
    with schema_context(entry.schema_name), __import__("django.db").db.connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)


def redeem(client: Any, login_url: str) -> Any:
    """What the browser does with the login link: open it, then post its form (a link that
    is no longer valid answers 400 at once)."""
    path = login_url.split("localhost:8000", 1)[1]
    page = client.get(path)
    if page.status_code == 400:
        return page
    assert page.status_code == 200 and 'name="token"' in page.content.decode()
    token = path.split("token=", 1)[1]
    return client.post("/console/handoff/", {"token": token})


PLATFORM_ORIGIN = "http://localhost:8000"


def web_signup(client: Any, **overrides: str) -> tuple[Any, str, str]:
    """The signup page's form, posted: (answer, the form's action, the token it carries)."""
    form = {"name": "Tea", "slug": "web-tea", "email": "x@tea.test", "password": PASSWORD, "tier": "standard"}
    form.update(overrides)
    answer = client.post("/signup/", form)
    html = answer.content.decode()
    action = html.split('action="', 1)[1].split('"', 1)[0] if 'action="' in html else ""
    token = html.split('name="token" value="', 1)[1].split('"', 1)[0] if 'name="token"' in html else ""
    return answer, action, token


def test_login_link_logs_the_owner_in_once_and_only_on_their_shop(beta: Any) -> None:
    body = signup().json()
    tenant = Tenant.objects.get(slug="tea-house")
    client = shop_client(tenant)
    response = redeem(client, body["login_url"])
    assert response.status_code == 302 and response["Location"] == "/console/"
    home = client.get("/console/")
    assert home.status_code == 200 and "茶馆 Tea House" in home.content.decode()
    # used once: a second use is refused
    assert redeem(shop_client(tenant), body["login_url"]).status_code == 400
    # minted for tea-house: worthless on another shop's host
    other = shop_client(beta)
    assert redeem(other, body["login_url"]).status_code == 400
    assert other.get("/console/").status_code == 302  # still anonymous there


def test_the_login_link_alone_logs_nobody_in() -> None:
    """A GET only shows the form; the POST needs this host's CSRF token (no login CSRF)."""
    body = signup().json()
    tenant = Tenant.objects.get(slug="tea-house")
    client = shop_client(tenant, enforce_csrf_checks=True)
    client.get(body["login_url"].split("localhost:8000", 1)[1])
    assert client.get("/console/").status_code == 302
    token = body["login_url"].split("token=", 1)[1]
    assert client.post("/console/handoff/", {"token": token}).status_code == 403  # no CSRF token
    assert shop_client(tenant).post("/console/handoff/", {"token": token}).status_code == 302  # still unused


def test_two_concurrent_uses_of_one_link_log_in_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic race: a second redemption runs exactly between the first one's read
    of the user and its conditional update."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from tenants import services

    signup()
    tenant = Tenant.objects.get(slug="tea-house")
    with schema_context(tenant.schema_name):
        owner = get_user_model().objects.get(is_owner=True)
        token = services.handoff_token(tenant, owner)
        real_now = timezone.now
        competitor: list[Any] = []

        def now_with_a_competitor() -> Any:
            if not competitor:
                competitor.append(None)
                competitor.append(services.handoff_user(tenant, token))  # redeems in between
            return real_now()

        monkeypatch.setattr(services.timezone, "now", now_with_a_competitor)
        first = services.handoff_user(tenant, token)
        monkeypatch.setattr(services.timezone, "now", real_now)
    assert competitor[1] is not None  # one of them logs in…
    assert first is None  # …and the other is refused


def test_forged_login_link_is_refused() -> None:
    signup()
    tenant = Tenant.objects.get(slug="tea-house")
    assert shop_client(tenant).post("/console/handoff/", {"token": "eyJzIjoi.forged"}).status_code == 400


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("slug", "www", "reserved"),
        ("slug", "api", "reserved"),
        ("slug", "admin", "reserved"),
        ("slug", "static", "reserved"),
        ("slug", "media", "reserved"),
        ("slug", "public", "reserved"),
        ("slug", "platform", "reserved"),
        ("slug", "pg-catalog", "reserved"),
        ("slug", "pg_toast", "invalid_characters"),
        ("slug", "tea house", "invalid_characters"),
        ("slug", "tea_house", "invalid_characters"),
        ("slug", "-tea", "invalid_characters"),
        ("slug", "tea-", "invalid_characters"),
        ("slug", "tea--house", "invalid_characters"),
        ("slug", "茶馆茶馆", "invalid_characters"),
        ("slug", "ab", "length"),
        ("slug", "a" * 31, "length"),
        ("slug", "", "required"),
        ("slug", "ALPHA", "taken"),
        ("email", "OWNER@alpha.test", "taken"),
        ("email", "not-an-email", "invalid"),
        ("name", "   ", "required"),
        ("name", "x" * 101, "length"),
        ("tier", "gold", "invalid_choice"),
        ("password", "short1", "password_too_short"),
        ("password", "12345678901", "password_entirely_numeric"),
        ("password", "password123", "password_too_common"),
        ("password", "", "required"),
    ],
)
def test_bad_input_gets_a_field_error_and_creates_nothing(field: str, value: str, code: str) -> None:
    tenants_before = Tenant.objects.count()
    response = signup(**{field: value})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert code in [e["code"] for e in errors[field]], errors
    assert Tenant.objects.count() == tenants_before
    assert not schema_exists("shop_tea_house")


def test_password_similar_to_the_email_is_refused() -> None:
    response = signup(email="tealover@tea.test", password="tealover@tea")
    assert "password_too_similar" in [e["code"] for e in response.json()["errors"]["password"]]


def test_non_object_body_is_a_400() -> None:
    response = platform_client().post("/api/v1/signup/", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_a_failure_midway_leaves_no_half_made_shop(monkeypatch: pytest.MonkeyPatch) -> None:
    refill_pool(target=1)
    pooled = PooledSchema.objects.get().schema_name

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(get_user_model().objects, "create", broken)
    with pytest.raises(RuntimeError):
        shop_signup(name="Broken", slug="broken", email="b@broken.test", password=PASSWORD, tier="standard")
    assert not Tenant.objects.filter(slug="broken").exists()
    assert not Domain.objects.filter(domain="broken.localhost").exists()
    assert not schema_exists("shop_broken")
    # the pooled schema is back in the pool, still ready for the next signup
    assert schema_exists(pooled) and PooledSchema.objects.filter(schema_name=pooled).exists()


def test_slug_taken_between_validation_and_creation_is_a_field_error() -> None:
    from django.core.exceptions import ValidationError

    from tenants.schemas import replay_schema

    # the other signup got there first: its schema and its row exist
    replay_schema("shop_racer")
    Tenant.objects.create(schema_name="shop_racer", name="First", slug="racer")
    with pytest.raises(ValidationError) as exc:
        shop_signup(name="Second", slug="racer", email="second@racer.test", password=PASSWORD, tier="standard")
    assert "slug" in exc.value.error_dict
    assert Tenant.objects.filter(slug="racer").count() == 1


def test_web_signup_page_shows_field_errors_then_opens_the_console() -> None:
    client = platform_client()
    page = client.get("/signup/")
    assert page.status_code == 200 and 'name="slug"' in page.content.decode()
    bad = client.post("/signup/", {"name": "Tea", "slug": "www", "email": "x@tea.test", "password": PASSWORD})
    assert bad.status_code == 400
    assert "reserved" in bad.content.decode() or "保留" in bad.content.decode()
    assert 'value="x@tea.test"' in bad.content.decode()  # what the merchant typed is kept
    assert PASSWORD not in bad.content.decode()  # but never the password
    ok, action, token = web_signup(client)
    # the answer is a form that posts the one-time token to the shop's host at once
    assert ok.status_code == 200 and ok["Cache-Control"] == "no-store"
    assert action == "http://web-tea.localhost:8000/console/handoff/" and token
    assert 'document.getElementById("handoff").submit()' in ok.content.decode()
    assert ok["Referrer-Policy"] == "strict-origin-when-cross-origin"  # so the post carries the Origin
    assert "hash;dur=" in ok["Server-Timing"]
    tenant = Tenant.objects.get(slug="web-tea")
    console = shop_client(tenant, enforce_csrf_checks=True)
    opened = console.post("/console/handoff/", {"token": token}, HTTP_ORIGIN=PLATFORM_ORIGIN)
    assert opened.status_code == 302 and opened["Location"] == "/console/"
    assert console.get("/console/").status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.test", "null", "http://beta.localhost:8000", None])
def test_the_token_posted_from_another_origin_logs_nobody_in(origin: str | None) -> None:
    """Login CSRF: only the platform's own signup answer may post a token without this
    host's CSRF token; a page elsewhere posting a shop's token gets a 403."""
    _ok, _action, token = web_signup(platform_client())
    tenant = Tenant.objects.get(slug="web-tea")
    victim = shop_client(tenant, enforce_csrf_checks=True)
    headers: dict[str, Any] = {"HTTP_ORIGIN": origin} if origin else {}
    assert victim.post("/console/handoff/", {"token": token}, **headers).status_code == 403
    assert victim.get("/console/").status_code == 302  # not logged in
    # and the token was not used up
    assert shop_client(tenant).post("/console/handoff/", {"token": token}).status_code == 302


def test_a_login_link_opened_on_its_own_asks_first_and_names_the_shop_and_the_owner() -> None:
    body = signup().json()
    tenant = Tenant.objects.get(slug="tea-house")
    page = shop_client(tenant).get(body["login_url"].split("localhost:8000", 1)[1])
    html = page.content.decode()
    assert page.status_code == 200 and "owner@tea.test" in html and "茶馆 Tea House" in html
    assert ".submit()" not in html  # never submitted by a script: the visitor decides
    assert 'name="csrfmiddlewaretoken"' in html


def test_a_used_link_takes_the_logged_in_owner_to_the_console() -> None:
    """E.g. the back button from the console to the signup's answer, which posts again."""
    _ok, _action, token = web_signup(platform_client())
    tenant = Tenant.objects.get(slug="web-tea")
    console = shop_client(tenant)
    assert console.post("/console/handoff/", {"token": token}, HTTP_ORIGIN=PLATFORM_ORIGIN).status_code == 302
    again = console.post("/console/handoff/", {"token": token}, HTTP_ORIGIN=PLATFORM_ORIGIN)
    assert again.status_code == 302 and again["Location"] == "/console/"
    assert console.get(f"/console/handoff/?token={token}")["Location"] == "/console/"
    # a stranger with the used link gets the expired-link page
    assert shop_client(tenant).post("/console/handoff/", {"token": token}).status_code == 400


@override_settings(SIGNUP_RATE_LIMIT="2/h")
def test_signup_is_rate_limited_per_client_address() -> None:
    client = platform_client(REMOTE_ADDR="203.0.113.7")
    for i in range(2):
        assert signup(client, slug=f"rl-{i}", email=f"rl{i}@rl.test").status_code == 201
    blocked = signup(client, slug="rl-3", email="rl3@rl.test")
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert not Tenant.objects.filter(slug="rl-3").exists()
    # another address is not affected
    other = platform_client(REMOTE_ADDR="198.51.100.1")
    assert signup(other, slug="rl-4", email="rl4@rl.test").status_code == 201


@override_settings(SIGNUP_RATE_LIMIT="1/h", NUM_PROXIES=1)
def test_rate_limit_uses_the_address_the_trusted_proxy_saw() -> None:
    client = platform_client(REMOTE_ADDR="10.0.0.2")
    first = client.post(
        "/api/v1/signup/", data="{}", content_type="application/json", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert first.status_code == 400
    second = client.post(
        "/api/v1/signup/", data="{}", content_type="application/json", HTTP_X_FORWARDED_FOR="203.0.113.10"
    )
    assert second.status_code == 400  # a different client behind the same proxy
    third = client.post(
        "/api/v1/signup/", data="{}", content_type="application/json", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert third.status_code == 429


# --- the same signup submitted twice -------------------------------------------------------
def test_the_same_signup_sent_again_answers_with_the_same_shop_and_a_login_link() -> None:
    first = signup()
    assert first.status_code == 201
    again = signup()  # e.g. a client retrying after a timeout
    assert again.status_code == 201, again.content
    body = again.json()
    assert body["provisioned_from"] == "repeat"
    assert body["shop"]["slug"] == "tea-house"
    assert Tenant.objects.filter(slug="tea-house").count() == 1
    tenant = Tenant.objects.get(slug="tea-house")
    with schema_context(tenant.schema_name):
        assert get_user_model().objects.count() == 1
    client = shop_client(tenant)
    assert redeem(client, body["login_url"]).status_code == 302
    assert client.get("/console/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "another-Secret-2718"}, "slug"),  # not the owner's password
        ({"email": "someone@else.test"}, "slug"),  # another merchant wants the address
        ({"name": "Another name"}, "slug"),  # another form
        ({"tier": "standard"}, "slug"),
    ],
)
def test_a_different_signup_for_a_taken_address_is_still_refused(change: dict[str, str], field: str) -> None:
    assert signup().status_code == 201
    response = signup(**change)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"][field]] == ["taken"]
    assert Tenant.objects.filter(slug="tea-house").count() == 1


def test_the_same_signup_long_after_is_refused_as_taken() -> None:
    assert signup().status_code == 201
    Tenant.objects.filter(slug="tea-house").update(created_at=timezone.now() - timedelta(minutes=6))
    response = signup()
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["code"] for e in errors["slug"]] == ["taken"] and [e["code"] for e in errors["email"]] == ["taken"]


def test_a_second_submission_racing_the_first_lands_in_the_same_shop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic race: the first submission has passed validation (the address was
    free) when the second one, the same form, opens the shop. The first then finds its
    schema name taken and answers with that shop, not with an error."""
    from tenants import services

    form = {"name": "Tea", "slug": "race-tea", "email": "x@race.test", "password": PASSWORD, "tier": "standard"}
    real_hash = services.make_password
    competitor: list[Any] = []

    def hash_then_let_the_other_submission_win(password: str) -> str:
        if not competitor:
            competitor.append(None)
            competitor[0] = shop_signup(**form)  # the other request, exactly now
        return real_hash(password)

    monkeypatch.setattr(services, "make_password", hash_then_let_the_other_submission_win)
    response = platform_client().post("/signup/", form)
    assert competitor and competitor[0].tenant.slug == "race-tea"
    assert response.status_code == 200, response.content.decode()[-2000:]
    html = response.content.decode()
    assert 'action="http://race-tea.localhost:8000/console/handoff/"' in html
    assert Tenant.objects.filter(slug="race-tea").count() == 1
    token = html.split('name="token" value="', 1)[1].split('"', 1)[0]
    console = shop_client(competitor[0].tenant)
    assert console.post("/console/handoff/", {"token": token}, HTTP_ORIGIN=PLATFORM_ORIGIN).status_code == 302
    assert console.get("/console/").status_code == 200


def test_passwords_are_hashed_with_argon2id_and_older_hashes_are_upgraded_at_login(alpha: Any) -> None:
    """Production's hasher (the tests use a fast one): Argon2id with OWASP's parameters; a
    PBKDF2 hash made before still logs in, and is replaced by an Argon2id one."""
    from django.contrib.auth import authenticate
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password

    import platform_core.settings as production

    with override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS), schema_context(alpha.schema_name):
        assert make_password(PASSWORD).startswith("argon2$argon2id$v=19$m=47104,t=1,p=1$")
        owner = get_user_model().objects.get(is_owner=True)
        owner.password = PBKDF2PasswordHasher().encode(PASSWORD, "pepper-salt-1234")
        owner.save(update_fields=["password"])
        assert authenticate(email=owner.email, password="wrong-password-1") is None
        assert authenticate(email=owner.email, password=PASSWORD) == owner
        owner.refresh_from_db()
        assert owner.password.startswith("argon2$argon2id$")
        assert owner.check_password(PASSWORD)
