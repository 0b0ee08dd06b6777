"""Flash sales: the flash price through the pipeline, the activity stock taken with the
order and given back when the unpaid order is released after the shop's short payment
time, per-member limits, the member listing, the console and its bad input, the decorated
block, and the feature gate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import in_shop, owner_client
from tests.marketing.helpers import flash_session, patch, post
from tests.orders.conftest import member, member_client, product

pytestmark = pytest.mark.django_db


def _order(tenant: Any, who: Any, sku: Any, quantity: int = 1, **kw: Any) -> Any:
    from shop.orders import services

    with in_shop(tenant):
        return services.order_create(
            who, items=[(sku.pk, quantity, None)], fulfilment="delivery", address_id=who.addresses.get().pk, **kw
        )


def _item(tenant: Any, session: Any) -> Any:
    with in_shop(tenant):
        return session.items.get()


def _stock(tenant: Any, sku: Any) -> int:
    with in_shop(tenant):
        sku.refresh_from_db()
        return int(sku.stock)


def test_the_flash_price_takes_activity_and_normal_stock_and_a_short_payment_time(beta: Any) -> None:
    tea = product(beta, price=10000, stock=20)
    session = flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}])
    ann = member(beta, "13800000101")
    order = _order(beta, ann, tea, 2)
    with in_shop(beta):
        line = order.lines.get()
        assert (line.unit_price, line.activity_discount, line.amount_paid) == (10000, 2 * (10000 - 1990), 2 * 1990)
        # the order must be paid within the shop's flash payment time (default 5 minutes)
        assert order.pay_by <= timezone.now() + timedelta(minutes=5)
        assert order.pay_by > timezone.now() + timedelta(minutes=4)
    item = _item(beta, session)
    assert (item.sold, item.remaining) == (2, 3)
    assert _stock(beta, tea) == 18  # a flash unit also leaves the normal stock


def test_an_unpaid_flash_order_is_released_after_the_shop_setting_and_its_units_go_back(beta: Any) -> None:
    from shop.marketing import flash
    from shop.orders import services as orders

    with in_shop(beta):
        flash.settings_save({"flash_pay_minutes": 2})
    tea = product(beta, price=10000, stock=20)
    other = product(beta, price=500, stock=5, name="Cup")
    session = flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}])
    ann = member(beta, "13800000102")
    order = _order(beta, ann, tea, 3)
    plain = _order(beta, ann, other, 1)
    with in_shop(beta):
        assert order.pay_by <= timezone.now() + timedelta(minutes=2)
        assert orders.run_timers(now=timezone.now() + timedelta(minutes=1))["cancelled"] == 0
        assert orders.run_timers(now=timezone.now() + timedelta(minutes=3))["cancelled"] == 1
        order.refresh_from_db()
        plain.refresh_from_db()
        assert (order.status, plain.status) == ("cancelled", "unpaid")
        # running the release again changes nothing (idempotent)
        assert flash.order_released(order) == 0
    assert _item(beta, session).sold == 0
    assert _stock(beta, tea) == 20


def test_a_paid_flash_order_keeps_its_units(beta: Any) -> None:
    from shop.orders import services as orders
    from shop.payments import services as payments

    tea = product(beta, price=10000, stock=20)
    session = flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}])
    ann = member(beta, "13800000103")
    order = _order(beta, ann, tea, 1)
    with in_shop(beta):
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")
        assert orders.run_timers(now=timezone.now() + timedelta(hours=1))["cancelled"] == 0
    assert _item(beta, session).sold == 1


def test_per_member_limit_and_sold_out_fall_back_to_the_normal_price_and_say_so(beta: Any) -> None:
    from shop.checkout.services import quote
    from shop.orders import services as orders

    tea = product(beta, price=10000, stock=20)
    flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 3, "per_member_limit": 1}])
    ann, bob = member(beta, "13800000104"), member(beta, "13800000105")
    first = _order(beta, ann, tea, 1)
    with in_shop(beta):
        assert first.lines.get().activity_discount == 10000 - 1990
        found = quote([(tea.pk, 1, None)], fulfilment="delivery", member=ann)
        assert found.priced.lines[0].activity is None
        assert [c["code"] for c in found.changes] == ["activity_limit"]
        # the buyer saw the flash price: the order is refused, not silently dearer
        with pytest.raises(orders.OrderRefused) as refused:
            _order(beta, ann, tea, 1, expected_payable=1990)
        assert refused.value.code == "price_changed"
        # two left, three asked: not at the flash price
        found = quote([(tea.pk, 3, None)], fulfilment="delivery", member=bob)
        assert found.priced.lines[0].activity is None
        assert found.changes[0]["code"] == "flash_sold_out" and found.changes[0]["remaining"] == 2


def test_only_running_sessions_price_and_the_member_listing_counts_down(beta: Any) -> None:
    from shop.checkout.services import effective_price

    tea = product(beta, price=10000, stock=20)
    cup = product(beta, price=3000, stock=20, name="Cup")
    now = timezone.now()
    flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}], name="Now")
    flash_session(
        beta,
        [{"sku": cup.pk, "price": 990, "stock": 5}],
        name="Next",
        starts=now + timedelta(hours=2),
        ends=now + timedelta(hours=3),
    )
    with in_shop(beta):
        assert (effective_price(tea), effective_price(cup)) == (1990, 3000)
    body = member_client(beta, member(beta, "13800000106")).get("/api/v1/marketing/flash-sales/").json()
    assert [s["name"] for s in body["current"]] == ["Now"]
    assert [s["name"] for s in body["next"]] == ["Next"]
    item = body["current"][0]["items"][0]
    assert (item["price"], item["flash_price"], item["remaining"], item["sold_out"]) == (10000, 1990, 5, False)
    assert 3500 < body["current"][0]["countdown"] <= 3600
    assert 7100 < body["next"][0]["countdown"] <= 7200


def test_an_ended_session_stops_pricing(beta: Any) -> None:
    from shop.checkout.services import effective_price

    tea = product(beta, price=10000, stock=20)
    session = flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}])
    staff = owner_client(beta)
    assert post(staff, f"/api/v1/console/marketing/flash-sales/{session.pk}/end/").status_code == 200
    with in_shop(beta):
        assert effective_price(tea) == 10000


def test_console_creates_lists_and_shows_results(beta: Any) -> None:
    tea = product(beta, price=10000, stock=20)
    staff = owner_client(beta)
    now = timezone.now()
    made = post(
        staff,
        "/api/v1/console/marketing/flash-sales/",
        {
            "name": "整点秒杀",
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "items": [{"sku": tea.pk, "price": 990, "stock": 10, "per_member_limit": 2}],
        },
    )
    assert made.status_code == 201, made.content
    _order(beta, member(beta, "13800000107"), tea, 2)
    listed = staff.get("/api/v1/console/marketing/flash-sales/").json()["results"]
    assert listed[0]["results"]["units"] == 2 and listed[0]["items"][0]["remaining"] == 8
    assert staff.get("/api/v1/console/marketing/settings/").json() == {"flash_pay_minutes": 5}
    assert patch(staff, "/api/v1/console/marketing/settings/", {"flash_pay_minutes": 3}).json() == {
        "flash_pay_minutes": 3
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"ends_at": None}, "ends_at"),
        ({"items": []}, "items"),
        ({"items": "x"}, "items"),
        ({"items": [{"sku": 0, "price": 1, "stock": 1}]}, "items"),
        ({"items": [{"sku": "SKU", "price": 10000, "stock": 1}]}, "items"),
        ({"items": [{"sku": "SKU", "price": 100, "stock": 0}]}, "items"),
        ({"items": [{"sku": "SKU", "price": 100, "stock": 999}]}, "items"),
        ({"items": [{"sku": "SKU", "price": -1, "stock": 1}]}, "items"),
        ({"items": [{"sku": "SKU", "price": 100, "stock": 1, "per_member_limit": 0}]}, "items"),
        ({"items": [{"sku": "SKU", "price": 100, "stock": 1}, {"sku": "SKU", "price": 100, "stock": 1}]}, "items"),
    ],
)
def test_console_refuses_bad_sessions_field_by_field(beta: Any, change: dict[str, Any], field: str) -> None:
    from shop.marketing.models import FlashSession

    tea = product(beta, price=10000, stock=20)
    now = timezone.now()
    body: dict[str, Any] = {
        "name": "秒杀",
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "items": [{"sku": tea.pk, "price": 100, "stock": 1}],
    }
    body.update(change)
    if isinstance(body["items"], list):
        body["items"] = [
            {**i, "sku": tea.pk if i.get("sku") == "SKU" else i.get("sku")} if isinstance(i, dict) else i
            for i in body["items"]
        ]
    answer = post(owner_client(beta), "/api/v1/console/marketing/flash-sales/", body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    bad = patch(owner_client(beta), "/api/v1/console/marketing/settings/", {"flash_pay_minutes": 0})
    assert bad.status_code == 400 and "flash_pay_minutes" in bad.json()
    with in_shop(beta):
        assert not FlashSession.objects.exists()


def test_a_sku_is_in_one_session_at_a_time(beta: Any) -> None:
    tea = product(beta, price=10000, stock=20)
    flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}])
    now = timezone.now()
    answer = post(
        owner_client(beta),
        "/api/v1/console/marketing/flash-sales/",
        {
            "name": "again",
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(minutes=30)).isoformat(),
            "items": [{"sku": tea.pk, "price": 990, "stock": 1}],
        },
    )
    assert answer.status_code == 400 and "items" in answer.json()


def test_the_feature_gate(alpha: Any) -> None:
    """Flash sales are on pro and custom: a standard shop gets 403 with the upgrade hint."""
    staff = owner_client(alpha)
    assert staff.get("/api/v1/console/marketing/flash-sales/").status_code == 403
    assert post(staff, "/api/v1/console/marketing/flash-sales/", {}).status_code == 403
    assert member_client(alpha, member(alpha, "13800000108")).get("/api/v1/marketing/flash-sales/").status_code == 403


def test_members_never_reach_the_console_api(beta: Any) -> None:
    shopper = member_client(beta, member(beta, "13800000109"))
    assert shopper.get("/api/v1/console/marketing/flash-sales/").status_code in (401, 403)


def test_the_decorated_block_shows_the_running_session(beta: Any) -> None:
    from shop.marketing import flash

    tea = product(beta, price=10000, stock=20)
    flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}])
    with in_shop(beta):
        [data] = flash.block_data([{"limit": 4}])
    assert data["state"] == "running"
    assert [(i["sku"], i["flash_price"], i["remaining"]) for i in data["items"]] == [(tea.pk, 1990, 5)]
    assert (data["items"][0]["price"], data["items"][0]["list_price"]) == (1990, 10000)  # a product card


def test_a_late_payment_revives_a_flash_order_only_while_units_are_left(beta: Any) -> None:
    from shop.models import ShopSettings
    from shop.orders import services as orders

    tea = product(beta, price=10000, stock=20)
    session = flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 1}])
    ann, bob = member(beta, "13800000110"), member(beta, "13800000111")
    late = _order(beta, ann, tea, 1)
    with in_shop(beta):
        ShopSettings.objects.update(late_payment=ShopSettings.LatePayment.REVIVE)
        orders.order_cancel(late, actor="system", reason="unpaid timeout")
    assert _item(beta, session).sold == 0
    _order(beta, bob, tea, 1)  # bob takes the unit meanwhile
    with in_shop(beta):
        late.refresh_from_db()
        _order_after, outcome = orders.order_mark_paid(late, amount=late.payable, actor="system", reference="pi_late")
    assert outcome == "refund"
    assert _item(beta, session).sold == 1


def test_console_page_creates_lists_and_ends_a_session(beta: Any) -> None:
    from shop.marketing.models import FlashSession

    tea = product(beta, price=10000, stock=20)
    staff = owner_client(beta)
    assert staff.get("/console/marketing/flash-sales/").status_code == 200
    now = timezone.localtime()
    form = {
        "name": "午间秒杀",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "sku": str(tea.pk),
        "price": "9.90",
        "stock": "5",
        "per_member_limit": "1",
    }
    assert staff.post("/console/marketing/flash-sales/", {**form, "price": "abc"}).status_code == 400
    assert staff.post("/console/marketing/flash-sales/", {**form, "stock": "999"}).status_code == 400
    assert staff.post("/console/marketing/flash-sales/", form).status_code == 302
    with in_shop(beta):
        session = FlashSession.objects.get()
        assert (session.items.get().price, session.items.get().per_member_limit) == (990, 1)
    page = staff.get("/console/marketing/flash-sales/")
    assert "午间秒杀" in page.content.decode()
    assert staff.post(f"/console/marketing/flash-sales/{session.pk}/end/").status_code == 302
    with in_shop(beta):
        session.refresh_from_db()
        assert session.ended_at is not None
    assert owner_client_standard_forbidden()


def owner_client_standard_forbidden() -> bool:
    from tenants.models import Tenant

    alpha = Tenant.objects.get(slug="alpha")
    return owner_client(alpha).get("/console/marketing/flash-sales/").status_code == 403


def test_the_decorated_home_page_shows_the_flash_and_group_items(beta: Any) -> None:
    from tests.decoration.test_pages import publish, save
    from tests.marketing.helpers import group_deal

    tea = product(beta, price=10000, stock=20, name="秒杀好茶")
    cup = product(beta, price=8000, stock=20, name="拼团好杯")
    flash_session(beta, [{"sku": tea.pk, "price": 1990, "stock": 5}])
    group_deal(beta, [{"sku": cup.pk, "price": 5000}])
    save(
        beta, [{"type": "flash_sale", "config": {"title": "秒杀"}}, {"type": "group_buy", "config": {"title": "拼团"}}]
    )
    publish(beta)
    from tests.conftest import shop_client

    page = shop_client(beta).get("/").content.decode()
    assert "秒杀好茶" in page and "拼团好杯" in page
    assert "19.90" in page and "50.00" in page
