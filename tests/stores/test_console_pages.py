"""The merchant's store pages: the list with open/closed badges and the plan's limit, the
form with its per-weekday hours editor, activate/deactivate; owner writes, staff reads."""

from __future__ import annotations

from typing import Any

import pytest

from shop import staff as staff_services
from shop.stores import hours
from shop.stores.models import Store
from tests.conftest import PASSWORD, english, in_shop, login_client, owner_client
from tests.stores.factories import ALL_DAY, make_store

pytestmark = pytest.mark.django_db

FORM = {
    "name": "福田店",
    "phone": "0755-12345678",
    "province": "广东省",
    "city": "深圳市",
    "district": "福田区",
    "address": "深南大道 100 号",
    "latitude": "",
    "longitude": "",
    "pickup_enabled": "on",
    **{f"hours_{day}": "09:00-21:00" for day in hours.DAYS},
}


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("", []),
        ("09:00-12:00, 13:00-21:00", [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "21:00"}]),
        ("9:00～12:00，13:00–24:00", [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "24:00"}]),
        (" 08：30 - 17：00 ", [{"open": "08:30", "close": "17:00"}]),
    ],
)
def test_the_hours_editor_reads_what_merchants_type(text: str, ranges: list[dict[str, str]]) -> None:
    assert hours.parse_day(text) == ranges


@pytest.mark.parametrize("text", ["9-12", "09:00", "09:00-12:00-13:00", "closed", "09:00-12:00 13:00-14:00"])
def test_the_hours_editor_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="09:00-12:00"):
        hours.parse_day(text)


def test_the_owner_adds_a_store_through_the_form(alpha: Any) -> None:
    client = english(owner_client(alpha))
    assert client.get("/console/stores/new/").status_code == 200
    response = client.post(
        "/console/stores/new/", {**FORM, "hours_mon": "13:00-21:00, 9:00-12:00", "hours_sun": "", "latitude": "22.54"}
    )
    assert response.status_code == 400  # longitude is missing
    assert "Give both latitude and longitude" in response.content.decode()
    assert 'value="13:00-21:00, 9:00-12:00"' in response.content.decode()  # what was typed stays
    response = client.post("/console/stores/new/", {**FORM, "hours_mon": "13:00-21:00, 9:00-12:00", "hours_sun": ""})
    assert response.status_code == 302 and response["Location"] == "/console/stores/"
    with in_shop(alpha):
        store = Store.objects.get()
    assert store.name == "福田店" and store.pickup_enabled and store.is_active
    assert store.opening_hours["mon"] == [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "21:00"}]
    assert store.opening_hours["sun"] == []
    page = client.get(f"/console/stores/{store.pk}/").content.decode()
    assert 'value="09:00-12:00, 13:00-21:00"' in page


def test_hour_errors_are_shown_beside_their_day_and_nothing_is_saved(alpha: Any) -> None:
    client = english(owner_client(alpha))
    response = client.post(
        "/console/stores/new/",
        {
            **FORM,
            "phone": "12345",
            "hours_mon": "09:00-13:00, 12:00-18:00",
            "hours_tue": "21:00-09:00",
            "hours_wed": "whenever",
        },
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "09:00–13:00 overlaps 12:00–18:00" in page
    assert "21:00–09:00 must close after it opens" in page
    assert "Write the hours like 09:00-12:00" in page
    assert 'value="whenever"' in page and 'value="12345"' in page  # what was typed stays
    with in_shop(alpha):
        assert not Store.objects.exists()


def test_the_list_shows_open_or_closed_now_and_the_limit(alpha: Any) -> None:
    make_store(alpha, name="Open shop", opening_hours=ALL_DAY)
    page = owner_client(alpha).get("/console/stores/").content.decode()
    assert "Open shop" in page and 'id="stores-used">1 / 1<' in page
    assert "/console/billing/" in page and 'id="store-limit"' in page  # the limit is reached: upgrade link
    assert "/console/stores/new/" not in page


def test_the_open_badge_follows_the_hours(beta: Any) -> None:
    make_store(beta, name="Day and night", opening_hours=ALL_DAY)
    make_store(beta, name="Shut")
    page = english(owner_client(beta)).get("/console/stores/").content.decode()
    assert page.count("Open now") == 1 and page.count("Closed now") == 1
    assert 'id="stores-used">2 / 50<' in page and 'id="store-limit"' not in page
    assert "/console/stores/new/" in page


def test_a_second_store_on_standard_shows_the_upgrade_path(alpha: Any) -> None:
    make_store(alpha)
    response = owner_client(alpha).post("/console/stores/new/", FORM)
    assert response.status_code == 403
    assert "/console/billing/" in response.content.decode()
    with in_shop(alpha):
        assert Store.objects.count() == 1


def test_deactivate_and_reactivate_within_the_limit(alpha: Any) -> None:
    first = make_store(alpha, name="First")
    client = owner_client(alpha)
    assert client.post(f"/console/stores/{first.pk}/active/", {"action": "deactivate"}).status_code == 302
    with in_shop(alpha):
        assert not Store.objects.get(pk=first.pk).is_active
    assert client.post("/console/stores/new/", {**FORM, "name": "Second"}).status_code == 302
    refused = client.post(f"/console/stores/{first.pk}/active/", {"action": "activate"}, follow=True)
    page = refused.content.decode()
    assert 'class="banner err"' in page and "/console/billing/" in page
    with in_shop(alpha):
        assert not Store.objects.get(pk=first.pk).is_active
        second = Store.objects.get(name="Second")
    client.post(f"/console/stores/{second.pk}/active/", {"action": "deactivate"})
    client.post(f"/console/stores/{first.pk}/active/", {"action": "activate"})
    with in_shop(alpha):
        assert Store.objects.get(pk=first.pk).is_active and not Store.objects.get(pk=second.pk).is_active


def test_staff_see_the_stores_but_only_the_owner_changes_them(alpha: Any) -> None:
    store = make_store(alpha, name="Main")
    with in_shop(alpha):
        staff_services.staff_add(alpha, email="clerk@alpha.test", name="Clerk", password=PASSWORD)
    clerk = login_client(alpha, "clerk@alpha.test")
    listing = clerk.get("/console/stores/")
    assert listing.status_code == 200 and "Main" in listing.content.decode()
    assert f"/console/stores/{store.pk}/active/" not in listing.content.decode()  # no buttons
    form = clerk.get(f"/console/stores/{store.pk}/")
    assert form.status_code == 200 and "disabled" in form.content.decode()
    assert clerk.post(f"/console/stores/{store.pk}/", {**FORM, "name": "Hacked"}).status_code == 403
    assert clerk.post("/console/stores/new/", FORM).status_code == 403
    assert clerk.post(f"/console/stores/{store.pk}/active/", {"action": "deactivate"}).status_code == 403
    with in_shop(alpha):
        unchanged = Store.objects.get()
    assert unchanged.name == "Main" and unchanged.is_active


def test_the_console_nav_links_to_stores(alpha: Any) -> None:
    assert 'href="/console/stores/"' in owner_client(alpha).get("/console/").content.decode()


def test_store_pages_need_a_console_login(alpha: Any) -> None:
    from tests.conftest import shop_client

    response = shop_client(alpha).get("/console/stores/")
    assert response.status_code == 302 and "/console/login/" in response["Location"]
