"""Pickup stores through the services and the console/storefront APIs: validation of every
field, opening hours, the tier's store limit (creation and re-activation), owner-only
writes, cross-shop 404s, and the storefront's list of pickup stores."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from platform_core.features import LimitReached
from shop import staff as staff_services
from shop.stores import selectors, services
from shop.stores.models import Store
from tenants.services import tenant_set_feature_override
from tests.conftest import PASSWORD, english, in_shop, login_client, owner_client, shop_client
from tests.stores.factories import ALL_DAY, make_store, store_data

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = {
    "mon": [{"open": "13:00", "close": "21:00"}, {"open": "09:00", "close": "12:00"}],
    "tue": [],
    "wed": [{"open": "09:00", "close": "21:00"}],
    "thu": [{"open": "09:00", "close": "21:00"}],
    "fri": [{"open": "09:00", "close": "21:00"}],
    "sat": [{"open": "10:00", "close": "12:00"}, {"open": "22:00", "close": "24:00"}],
    "sun": [{"open": "00:00", "close": "02:00"}],
}


def send(client: Any, method: str, url: str, data: Any) -> Any:
    return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")


def staff_client(tenant: Any) -> Any:
    email = f"clerk@{tenant.slug}.test"
    with in_shop(tenant):
        staff_services.staff_add(tenant, email=email, name="Clerk", password=PASSWORD)
    return login_client(tenant, email)


def count(tenant: Any) -> int:
    with in_shop(tenant):
        return Store.objects.count()


# --- creation and validation ------------------------------------------------------------------
def test_the_owner_creates_a_store_with_hours(alpha: Any) -> None:
    response = send(
        owner_client(alpha),
        "post",
        "/api/v1/console/stores/",
        store_data(
            name="南山店", phone=" 0755-1234567 ", latitude="22.540503", longitude=113.9344, opening_hours=HOURS
        ),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "南山店" and body["phone"] == "0755-1234567"
    assert body["latitude"] == 22.540503 and body["longitude"] == 113.9344
    assert body["is_active"] is True and body["pickup_enabled"] is True and isinstance(body["open_now"], bool)
    # ranges come back sorted, and every weekday is present
    assert body["opening_hours"]["mon"] == [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "21:00"}]
    assert body["opening_hours"]["tue"] == []
    with in_shop(alpha):
        store = Store.objects.get()
        assert store.latitude == Decimal("22.540503") and store.opening_hours["sat"][1]["close"] == "24:00"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "店" * 41}, "name"),
        ({"name": 42}, "name"),
        ({"phone": "12345678901"}, "phone"),  # mobile numbers start 13-19
        ({"phone": "1380013800"}, "phone"),
        ({"phone": "+86 13800138000"}, "phone"),
        ({"phone": "010-123456"}, "phone"),
        ({"phone": "10-12345678"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"province": ""}, "province"),
        ({"city": "市" * 31}, "city"),
        ({"district": None}, "district"),
        ({"address": "路" * 121}, "address"),
        ({"latitude": 91, "longitude": 100}, "latitude"),
        ({"latitude": 30, "longitude": "-180.5"}, "longitude"),
        ({"latitude": "north", "longitude": 100}, "latitude"),
        ({"latitude": "NaN", "longitude": 100}, "latitude"),
        ({"latitude": True, "longitude": 100}, "latitude"),
        ({"latitude": 30}, "longitude"),  # both or neither
        ({"pickup_enabled": "yes"}, "pickup_enabled"),
        ({"opening_hours": ["09:00-21:00"]}, "opening_hours"),
        ({"opening_hours": {"monday": []}}, "opening_hours"),
        ({"opening_hours": {"mon": "09:00-21:00"}}, "opening_hours"),
        ({"opening_hours": {"mon": [{"open": "9:00", "close": "21:00"}]}}, "opening_hours"),
        ({"opening_hours": {"mon": [{"open": "09:00", "close": "25:00"}]}}, "opening_hours"),
        ({"opening_hours": {"mon": [{"open": "24:00", "close": "24:00"}]}}, "opening_hours"),
        ({"opening_hours": {"mon": [{"open": "09:00"}]}}, "opening_hours"),
        ({"opening_hours": {"mon": [{"open": "21:00", "close": "09:00"}]}}, "opening_hours"),  # close before open
        ({"opening_hours": {"mon": [{"open": "09:00", "close": "09:00"}]}}, "opening_hours"),
        (
            {"opening_hours": {"mon": [{"open": "09:00", "close": "13:00"}, {"open": "12:00", "close": "18:00"}]}},
            "opening_hours",
        ),
        ({"opening_hours": {"mon": [{"open": "09:00", "close": "10:00"}] * 7}}, "opening_hours"),
    ],
)
def test_bad_stores_get_field_errors_and_nothing_is_written(alpha: Any, change: dict[str, Any], field: str) -> None:
    response = send(owner_client(alpha), "post", "/api/v1/console/stores/", store_data(**change))
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert count(alpha) == 0


def test_hour_errors_name_the_day_and_the_problem(alpha: Any) -> None:
    hours = {
        "mon": [{"open": "09:00", "close": "13:00"}, {"open": "12:00", "close": "18:00"}],
        "fri": [{"open": "22:00", "close": "02:00"}],
    }
    errors = send(
        english(owner_client(alpha)), "post", "/api/v1/console/stores/", store_data(opening_hours=hours)
    ).json()
    text = " ".join(errors["opening_hours"])
    assert "09:00–13:00 overlaps 12:00–18:00" in text
    assert "22:00–02:00 must close after it opens" in text and "24:00" in text  # says how to cross midnight


def test_adjacent_ranges_and_a_missing_day_are_fine(alpha: Any) -> None:
    hours = {"mon": [{"open": "09:00", "close": "12:00"}, {"open": "12:00", "close": "24:00"}]}
    with in_shop(alpha):
        store = services.store_create(alpha, store_data(opening_hours=hours))
    assert store.opening_hours["mon"][1] == {"open": "12:00", "close": "24:00"}
    assert store.opening_hours["sun"] == []


def test_store_names_are_unique_ignoring_case(alpha: Any, beta: Any) -> None:
    client = owner_client(beta)
    assert send(client, "post", "/api/v1/console/stores/", store_data(name="Downtown")).status_code == 201
    again = send(client, "post", "/api/v1/console/stores/", store_data(name=" downtown "))
    assert again.status_code == 400 and "name" in again.json()
    assert send(owner_client(alpha), "post", "/api/v1/console/stores/", store_data(name="Downtown")).status_code == 201


def test_a_name_taken_in_a_race_is_still_a_field_error(alpha: Any, monkeypatch: Any) -> None:
    make_store(alpha, name="Harbour")
    # As if the other store committed just after this one checked: only the unique index is left.
    monkeypatch.setattr(services, "_name_taken", lambda *args: False)
    with in_shop(alpha), pytest.raises(ValidationError) as caught:
        services.store_create(alpha, store_data(name="HARBOUR", is_active=False))
    assert list(caught.value.message_dict) == ["name"]
    assert count(alpha) == 1


# --- updates -----------------------------------------------------------------------------------
def test_updates_validate_each_field_and_keep_the_rest(alpha: Any) -> None:
    store = make_store(alpha, name="Old", opening_hours=HOURS)
    client = owner_client(alpha)
    url = f"/api/v1/console/stores/{store.pk}/"
    bad = send(client, "patch", url, {"phone": "12345", "opening_hours": {"mon": [{"open": "10:00", "close": "9:00"}]}})
    assert bad.status_code == 400 and set(bad.json()) == {"phone", "opening_hours"}
    ok = send(client, "patch", url, {"name": "New", "opening_hours": {"mon": []}})
    assert ok.status_code == 200, ok.content
    assert ok.json()["name"] == "New" and ok.json()["phone"] == "13800138000"
    assert ok.json()["opening_hours"]["mon"] == [] and ok.json()["opening_hours"]["sat"] == []  # replaced as a whole
    incomplete = send(client, "put", url, {"name": "Newer"})
    assert incomplete.status_code == 400 and {"phone", "address"} <= set(incomplete.json())
    full = send(client, "put", url, store_data(name="Newest", phone="010-12345678"))
    assert full.status_code == 200 and full.json()["phone"] == "010-12345678"
    with in_shop(alpha):
        assert Store.objects.get().name == "Newest"


def test_the_coordinates_pair_is_checked_against_what_is_stored(alpha: Any) -> None:
    store = make_store(alpha, latitude=22.5, longitude=113.9)
    with in_shop(alpha):
        with pytest.raises(ValidationError) as caught:
            services.store_update(alpha, store, {"longitude": None})
        assert list(caught.value.message_dict) == ["longitude"]
        cleared = services.store_update(alpha, store, {"latitude": "", "longitude": ""})
    assert cleared.latitude is None and cleared.longitude is None


# --- the tier's store limit ---------------------------------------------------------------------
def test_standard_allows_one_store_and_refuses_the_second_with_limit_reached(alpha: Any) -> None:
    client = owner_client(alpha)
    assert send(client, "post", "/api/v1/console/stores/", store_data()).status_code == 201
    refused = send(client, "post", "/api/v1/console/stores/", store_data(name="Second"))
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "limit_reached" and body["feature"] == "stores"
    assert body["limit"] == 1 and body["used"] == 1 and body["upgrade"]["tier"] == "pro"
    assert count(alpha) == 1


def test_pro_allows_more_stores(beta: Any) -> None:
    client = owner_client(beta)
    for name in ("One", "Two", "Three"):
        assert send(client, "post", "/api/v1/console/stores/", store_data(name=name)).status_code == 201
    assert count(beta) == 3


def test_an_operator_override_is_the_limit(beta: Any) -> None:
    tenant_set_feature_override(beta, "stores", 1, actor=None, reason="test")
    make_store(beta)
    refused = send(owner_client(beta), "post", "/api/v1/console/stores/", store_data())
    assert refused.status_code == 403 and refused.json()["code"] == "limit_reached"


def test_deactivated_stores_free_a_place_and_reactivating_over_the_limit_is_refused(alpha: Any) -> None:
    client = owner_client(alpha)
    first = make_store(alpha, name="First")
    off = send(client, "patch", f"/api/v1/console/stores/{first.pk}/", {"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    second = send(client, "post", "/api/v1/console/stores/", store_data(name="Second"))
    assert second.status_code == 201
    back = send(client, "patch", f"/api/v1/console/stores/{first.pk}/", {"name": "Renamed", "is_active": True})
    assert back.status_code == 403 and back.json()["code"] == "limit_reached"
    with in_shop(alpha):
        refused = Store.objects.get(pk=first.pk)
        assert not refused.is_active and refused.name == "First"  # nothing of the request written
        with pytest.raises(LimitReached):
            services.store_set_active(alpha, refused, True)
        services.store_set_active(alpha, Store.objects.get(name="Second"), False)
        assert services.store_set_active(alpha, refused, True).is_active
        assert selectors.count_stores() == 1


def test_editing_an_active_store_at_the_limit_is_allowed(alpha: Any) -> None:
    store = make_store(alpha)
    response = send(owner_client(alpha), "patch", f"/api/v1/console/stores/{store.pk}/", {"is_active": True})
    assert response.status_code == 200


def test_billing_counts_active_stores_for_a_downgrade(beta: Any) -> None:
    from platform_core.features import limits_exceeded_for_tier

    make_store(beta)
    make_store(beta)
    make_store(beta, is_active=False)
    problems = {p["feature"]: p for p in limits_exceeded_for_tier(beta, "standard")}
    assert problems["stores"]["used"] == 2 and problems["stores"]["reduce_by"] == 1


# --- who may do what ---------------------------------------------------------------------------
def test_staff_read_stores_and_only_the_owner_writes(alpha: Any) -> None:
    store = make_store(alpha)
    clerk = staff_client(alpha)
    assert clerk.get("/api/v1/console/stores/").json()["count"] == 1
    assert clerk.get(f"/api/v1/console/stores/{store.pk}/").status_code == 200
    assert send(clerk, "post", "/api/v1/console/stores/", store_data()).status_code == 403
    assert send(clerk, "patch", f"/api/v1/console/stores/{store.pk}/", {"is_active": False}).status_code == 403
    assert send(clerk, "put", f"/api/v1/console/stores/{store.pk}/", store_data()).status_code == 403
    with in_shop(alpha):
        assert Store.objects.get().is_active


def test_the_console_api_needs_a_console_login(alpha: Any) -> None:
    store = make_store(alpha)
    anonymous = shop_client(alpha)
    assert anonymous.get("/api/v1/console/stores/").status_code == 401
    assert send(anonymous, "patch", f"/api/v1/console/stores/{store.pk}/", {"is_active": False}).status_code == 401


def test_stores_are_never_deleted(alpha: Any) -> None:
    store = make_store(alpha)
    assert owner_client(alpha).delete(f"/api/v1/console/stores/{store.pk}/").status_code == 405
    assert count(alpha) == 1


# --- opening hours over time --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        # 2026-01-05 is a Monday; wall-clock times in Asia/Shanghai
        (datetime(2026, 1, 5, 8, 59, tzinfo=SHANGHAI), False),
        (datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI), True),  # the opening minute is in
        (datetime(2026, 1, 5, 11, 59, 59, tzinfo=SHANGHAI), True),
        (datetime(2026, 1, 5, 12, 0, tzinfo=SHANGHAI), False),  # the closing minute is out
        (datetime(2026, 1, 5, 12, 30, tzinfo=SHANGHAI), False),  # the lunch break
        (datetime(2026, 1, 5, 13, 0, tzinfo=SHANGHAI), True),
        (datetime(2026, 1, 5, 21, 0, tzinfo=SHANGHAI), False),
        (datetime(2026, 1, 6, 10, 0, tzinfo=SHANGHAI), False),  # Tuesday: closed all day
        (datetime(2026, 1, 10, 23, 59, 59, tzinfo=SHANGHAI), True),  # Saturday until 24:00
        (datetime(2026, 1, 11, 0, 0, tzinfo=SHANGHAI), True),  # ... and on from 00:00 on Sunday
        (datetime(2026, 1, 11, 1, 59, tzinfo=SHANGHAI), True),
        (datetime(2026, 1, 11, 2, 0, tzinfo=SHANGHAI), False),
        (datetime(2026, 1, 12, 0, 30, tzinfo=SHANGHAI), False),  # Monday 00:30: Sunday's hours are over
        # other zones are converted: 01:00 UTC on Monday is 09:00 in Shanghai
        (datetime(2026, 1, 5, 1, 0, tzinfo=ZoneInfo("UTC")), True),
        (datetime(2026, 1, 5, 0, 59, tzinfo=ZoneInfo("UTC")), False),
        # 15:30 UTC on Saturday is 23:30 Saturday in Shanghai; 16:30 is Sunday 00:30
        (datetime(2026, 1, 10, 15, 30, tzinfo=ZoneInfo("UTC")), True),
        (datetime(2026, 1, 10, 16, 30, tzinfo=ZoneInfo("UTC")), True),
        (datetime(2026, 1, 10, 18, 0, tzinfo=ZoneInfo("UTC")), False),
        (datetime(2026, 1, 5, 1, 0, tzinfo=ZoneInfo("America/New_York")), True),  # Monday 14:00 in Shanghai
        # a naive datetime is read as Shanghai wall-clock time
        (datetime(2026, 1, 5, 9, 30), True),
        (datetime(2026, 1, 10, 15, 30), False),
    ],
)
def test_is_open_at_follows_days_and_ranges_in_the_shops_time_zone(alpha: Any, moment: datetime, is_open: bool) -> None:
    store = make_store(alpha, opening_hours=HOURS)
    assert selectors.is_open_at(store, moment) is is_open


def test_an_inactive_store_is_never_open(alpha: Any) -> None:
    store = make_store(alpha, opening_hours=ALL_DAY, is_active=False)
    assert not selectors.is_open_at(store, timezone.now())


# --- isolation -----------------------------------------------------------------------------------
def test_another_shops_stores_are_404_everywhere(alpha: Any, beta: Any) -> None:
    store = make_store(alpha, opening_hours=ALL_DAY)
    with in_shop(beta):
        assert not Store.objects.filter(pk=store.pk).exists()
    beta_owner = owner_client(beta)
    url = f"/api/v1/console/stores/{store.pk}/"
    assert beta_owner.get(url).status_code == 404
    assert send(beta_owner, "patch", url, {"is_active": False}).status_code == 404
    assert send(beta_owner, "put", url, store_data()).status_code == 404
    assert beta_owner.get(f"/console/stores/{store.pk}/").status_code == 404
    assert beta_owner.post(f"/console/stores/{store.pk}/", store_data()).status_code == 404
    assert beta_owner.post(f"/console/stores/{store.pk}/active/", {"action": "deactivate"}).status_code == 404
    assert beta_owner.get("/api/v1/console/stores/").json()["count"] == 0
    assert shop_client(beta).get("/api/v1/stores/").json()["count"] == 0
    with in_shop(alpha):
        assert Store.objects.get(pk=store.pk).is_active
    assert shop_client(alpha).get("/api/v1/stores/").json()["count"] == 1


# --- storefront ------------------------------------------------------------------------------------
def test_the_storefront_lists_active_pickup_stores_with_hours_and_open_now(beta: Any) -> None:
    make_store(beta, name="Always open", opening_hours=ALL_DAY)
    make_store(beta, name="Never open")
    make_store(beta, name="No pickup", pickup_enabled=False, opening_hours=ALL_DAY)
    make_store(beta, name="Closed down", is_active=False, opening_hours=ALL_DAY)
    response = shop_client(beta).get("/api/v1/stores/")  # public: no login
    assert response.status_code == 200
    stores = {s["name"]: s for s in response.json()["results"]}
    assert set(stores) == {"Always open", "Never open"}
    assert stores["Always open"]["open_now"] is True and stores["Never open"]["open_now"] is False
    assert stores["Always open"]["opening_hours"]["sun"] == [{"open": "00:00", "close": "24:00"}]
    assert "is_active" not in stores["Always open"] and "pickup_enabled" not in stores["Always open"]
    with in_shop(beta):
        assert [s.name for s in selectors.pickup_stores()] == ["Always open", "Never open"]


def test_the_storefront_list_takes_a_constant_number_of_queries(beta: Any, django_assert_max_num_queries: Any) -> None:
    for _ in range(5):
        make_store(beta, opening_hours=ALL_DAY)
    client = shop_client(beta)
    client.get("/api/v1/stores/")  # warm the shop lookup
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/stores/").json()["count"] == 5


def test_checkout_gets_a_pickup_store_only_if_it_takes_pickups(beta: Any) -> None:
    open_store = make_store(beta, latitude="22.54", longitude="113.93")
    no_pickup = make_store(beta, pickup_enabled=False)
    closed = make_store(beta, is_active=False)
    with in_shop(beta):
        assert selectors.pickup_store(open_store.pk) == open_store
        assert selectors.pickup_store(str(open_store.pk)) == open_store
        for pk in (no_pickup.pk, closed.pk, 999999, "x", None, True):
            assert selectors.pickup_store(pk) is None
        snap = selectors.snapshot(open_store)
    assert snap["name"] == open_store.name and snap["latitude"] == "22.540000" and snap["id"] == open_store.pk


def test_the_shop_api_schema_documents_the_stores_endpoints(alpha: Any) -> None:
    schema = shop_client(alpha).get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/stores/" in paths and "/api/v1/console/stores/{id}/" in paths
    assert "patch" in paths["/api/v1/console/stores/{id}/"]
