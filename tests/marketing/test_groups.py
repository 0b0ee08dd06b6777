"""Group buying end to end: a leader opens a group by paying, others join through the
share link, the group succeeds when full and only then ships; unpaid places come back;
expiry refunds every paid member through the provider (offline here: the refunds wait
for the merchant's transfer), returns the stock, closes the orders and publishes
``order_cancelled`` (commission reversal) — or completes with simulated members. APIs,
bad input, the feature gate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from tests.conftest import in_shop, owner_client, shop_client
from tests.marketing.helpers import group_deal, post
from tests.orders.conftest import member, member_client, product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def events_at_once() -> Iterator[None]:
    """Events run as they are published (the test's transaction never commits)."""
    with mock.patch("shop.events.transaction.on_commit", side_effect=lambda f, robust=False: f()):
        yield


def _body(who: Any, sku: Any, **extra: Any) -> dict[str, Any]:
    return {"sku": sku.pk, "quantity": 1, "fulfilment": "delivery", "address": who.addresses.get().pk, **extra}


def _open(tenant: Any, who: Any, deal: Any, sku: Any) -> Any:
    from shop.marketing import groups

    with in_shop(tenant):
        return groups.group_open(who, deal, _body(who, sku))


def _join(tenant: Any, who: Any, group_id: int, sku: Any) -> Any:
    from shop.marketing import groups
    from shop.marketing.models import Group

    with in_shop(tenant):
        return groups.group_join(who, Group.objects.get(pk=group_id), _body(who, sku))


def _pay(tenant: Any, order: Any) -> None:
    from shop.payments import services as payments

    with in_shop(tenant):
        order.refresh_from_db()
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")


def _group(tenant: Any, order: Any) -> Any:
    from shop.marketing.models import GroupMember

    with in_shop(tenant):
        return GroupMember.objects.select_related("group").get(order_id=order.pk).group


def _status(tenant: Any, order: Any) -> str:
    with in_shop(tenant):
        order.refresh_from_db()
        return str(order.status)


def test_a_group_opens_when_the_leader_pays_succeeds_when_full_and_only_then_ships(beta: Any) -> None:
    from shop.orders import services as orders

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2, hours=24)
    ann, bob = member(beta, "13800000201"), member(beta, "13800000202")
    lead = _open(beta, ann, deal, tea)
    with in_shop(beta):
        line = lead.lines.get()
        assert (line.unit_price, line.amount_paid) == (10000, 6000)
    group = _group(beta, lead)
    assert (group.status, group.seats, group.expires_at) == ("pending", 1, None)
    # not joinable before the leader paid
    with pytest.raises(orders.OrderRefused) as closed:
        _join(beta, bob, group.pk, tea)
    assert closed.value.code == "group_closed" and closed.value.details["deal"] == deal.pk
    _pay(beta, lead)
    group = _group(beta, lead)
    assert group.status == "open" and group.paid == 1
    assert timedelta(hours=23, minutes=59) < group.expires_at - timezone.now() <= timedelta(hours=24)
    with in_shop(beta), pytest.raises(Exception, match="group buy|拼团"):
        orders.order_ship(lead, carrier="顺丰", tracking_number="SF1", actor="staff:1")
    refused = post(
        owner_client(beta), f"/api/v1/console/orders/{lead.pk}/ship/", {"carrier": "顺丰", "tracking_number": "SF1"}
    )
    assert refused.status_code == 400 and "order" in refused.json()
    joined = _join(beta, bob, group.pk, tea)
    with in_shop(beta):
        assert joined.pay_by <= group.expires_at
    assert _group(beta, joined).seats == 2
    _pay(beta, joined)
    group = _group(beta, lead)
    assert (group.status, group.paid) == ("succeeded", 2)
    with in_shop(beta):
        orders.order_ship(lead, carrier="顺丰", tracking_number="SF1", actor="staff:1")
    assert _status(beta, lead) == "shipped"


def test_a_member_joins_once_and_a_full_group_offers_a_new_one(beta: Any) -> None:
    from django.core.exceptions import ValidationError

    from shop.orders import services as orders

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2)
    ann, bob, cat = member(beta, "13800000203"), member(beta, "13800000204"), member(beta, "13800000205")
    lead = _open(beta, ann, deal, tea)
    _pay(beta, lead)
    group = _group(beta, lead)
    with pytest.raises(ValidationError):
        _join(beta, ann, group.pk, tea)  # the leader is in it already
    _join(beta, bob, group.pk, tea)  # holds the last place, unpaid
    with pytest.raises(ValidationError):
        _join(beta, bob, group.pk, tea)
    with pytest.raises(orders.OrderRefused) as full:
        _join(beta, cat, group.pk, tea)
    assert full.value.code == "group_full" and full.value.details == {
        "group": group.pk,
        "deal": deal.pk,
        "can_open": True,
    }
    assert _group(beta, lead).seats == 2


def test_unpaid_places_come_back_and_an_unpaid_leader_cancels_the_pending_group(beta: Any) -> None:
    from shop.orders import services as orders

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2)
    ann, bob, cat = member(beta, "13800000206"), member(beta, "13800000207"), member(beta, "13800000208")
    lead = _open(beta, ann, deal, tea)
    _pay(beta, lead)
    group = _group(beta, lead)
    waiting = _join(beta, bob, group.pk, tea)
    with in_shop(beta):
        orders.order_cancel(waiting, actor="system", reason="unpaid timeout")
    assert _group(beta, lead).seats == 1
    _join(beta, cat, group.pk, tea)  # the place is free again
    # a leader who never pays: the pending group is cancelled with the order
    never = _open(beta, bob, deal, tea)
    with in_shop(beta):
        orders.run_timers(now=timezone.now() + timedelta(days=1))
    assert _group(beta, never).status == "cancelled"
    assert _status(beta, never) == "cancelled"


def test_an_unfilled_group_refunds_every_paid_member_at_expiry(beta: Any) -> None:
    from shop import events
    from shop.marketing import groups
    from shop.payments.models import Refund

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=3, hours=2)
    ann, bob, cat = member(beta, "13800000209"), member(beta, "13800000210"), member(beta, "13800000211")
    lead = _open(beta, ann, deal, tea)
    _pay(beta, lead)
    group = _group(beta, lead)
    paid = _join(beta, bob, group.pk, tea)
    _pay(beta, paid)
    unpaid = _join(beta, cat, group.pk, tea)
    with in_shop(beta):
        tea.refresh_from_db()
        assert tea.stock == 17
    cancelled: list[tuple[int, bool]] = []

    def seen(sender: Any, order: Any, **kwargs: Any) -> None:
        cancelled.append((order.pk, order.paid_at is not None))

    events.order_cancelled.connect(seen, dispatch_uid="test-group-cancelled")
    try:
        with in_shop(beta):
            assert groups.expire_groups(now=timezone.now() + timedelta(hours=1)) == {"succeeded": 0, "failed": 0}
            assert groups.expire_groups(now=timezone.now() + timedelta(hours=3)) == {"succeeded": 0, "failed": 1}
            # a second run finds nothing to do
            assert groups.expire_groups(now=timezone.now() + timedelta(hours=3)) == {"succeeded": 0, "failed": 0}
            refunds = list(Refund.objects.order_by("id").values_list("payment__order_id", "amount", "status"))
            tea.refresh_from_db()
    finally:
        events.order_cancelled.disconnect(dispatch_uid="test-group-cancelled")
    assert refunds == [(lead.pk, 6000, "pending"), (paid.pk, 6000, "pending")]  # offline: the merchant sends them
    assert [_status(beta, o) for o in (lead, paid, unpaid)] == ["cancelled"] * 3
    assert tea.stock == 20
    assert sorted(cancelled) == sorted([(unpaid.pk, False), (lead.pk, True), (paid.pk, True)])
    group = _group(beta, lead)
    assert group.status == "failed"


def test_a_group_completes_with_simulated_members_when_the_deal_says_so(beta: Any) -> None:
    from shop.marketing import groups
    from shop.orders import services as orders

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=3, hours=1, simulate_on_expiry=True)
    lead = _open(beta, member(beta, "13800000212"), deal, tea)
    _pay(beta, lead)
    with in_shop(beta):
        assert groups.expire_groups(now=timezone.now() + timedelta(hours=2)) == {"succeeded": 1, "failed": 0}
        orders.order_ship(lead, carrier="顺丰", tracking_number="SF2", actor="staff:1")
    group = _group(beta, lead)
    assert (group.status, group.paid, group.simulated) == ("succeeded", 1, 2)


def test_the_member_api_from_deal_to_share_link_to_my_groups(beta: Any) -> None:
    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2)
    ann, bob, cat = member(beta, "13800000213"), member(beta, "13800000214"), member(beta, "13800000215")
    lead_client, bob_client, cat_client = (member_client(beta, m) for m in (ann, bob, cat))
    deals = bob_client.get("/api/v1/marketing/group-deals/").json()
    assert [(d["id"], d["items"][0]["group_price"]) for d in deals] == [(deal.pk, 6000)]
    opened = post(lead_client, f"/api/v1/marketing/group-deals/{deal.pk}/open/", _body(ann, tea))
    assert opened.status_code == 201, opened.content
    group_id = opened.json()["group"]
    with in_shop(beta):
        from shop.orders.models import Order

        lead = Order.objects.get(pk=opened.json()["order"]["id"])
    _pay(beta, lead)
    shared = bob_client.get(f"/api/v1/marketing/groups/{group_id}/").json()
    assert (shared["places_left"], shared["share_path"]) == (1, f"/?group={group_id}")
    assert [g["id"] for g in bob_client.get(f"/api/v1/marketing/group-deals/{deal.pk}/groups/").json()] == [group_id]
    joined = post(bob_client, f"/api/v1/marketing/groups/{group_id}/join/", _body(bob, tea))
    assert joined.status_code == 201, joined.content
    full = post(cat_client, f"/api/v1/marketing/groups/{group_id}/join/", _body(cat, tea))
    assert full.status_code == 409 and full.json()["code"] == "group_full"
    assert full.json()["details"]["deal"] == deal.pk
    mine = bob_client.get("/api/v1/marketing/my-groups/").json()
    assert [(g["id"], g["my_status"]) for g in mine] == [(group_id, "joined")]
    # bad input: 400 with the field
    for body, field in (
        ({**_body(cat, tea), "sku": 0}, "sku"),
        ({**_body(cat, tea), "quantity": 0}, "quantity"),
        ({**_body(cat, tea), "quantity": "2"}, "quantity"),
        ({**_body(cat, tea), "fulfilment": "teleport"}, "fulfilment"),
        ({**_body(cat, tea), "address": 999999}, "address"),
    ):
        answer = post(cat_client, f"/api/v1/marketing/group-deals/{deal.pk}/open/", body)
        assert answer.status_code == 400 and field in answer.json(), (body, answer.content)
    assert post(cat_client, f"/api/v1/marketing/group-deals/{deal.pk}/open/", []).status_code == 400
    # anonymous shoppers see a group, but only members join
    anonymous = shop_client(beta)
    assert anonymous.get(f"/api/v1/marketing/groups/{group_id}/").status_code == 200
    assert post(anonymous, f"/api/v1/marketing/groups/{group_id}/join/", _body(cat, tea)).status_code in (401, 403)


def test_console_deals_groups_and_bad_input(beta: Any) -> None:
    tea = product(beta, price=10000, stock=20)
    staff = owner_client(beta)
    now = timezone.now()
    good = {
        "name": "三人团",
        "size": 3,
        "hours": 24,
        "simulate_on_expiry": False,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        "items": [{"sku": tea.pk, "price": 5000}],
    }
    made = post(staff, "/api/v1/console/marketing/group-deals/", good)
    assert made.status_code == 201, made.content
    deal_id = made.json()["id"]
    for change, field in (
        ({"size": 1}, "size"),
        ({"size": None}, "size"),
        ({"hours": 0}, "hours"),
        ({"simulate_on_expiry": "yes"}, "simulate_on_expiry"),
        ({"name": ""}, "name"),
        ({"ends_at": now.isoformat()}, "ends_at"),
        ({"items": []}, "items"),
        ({"items": [{"sku": tea.pk, "price": 10000}]}, "items"),
        ({"items": [{"sku": tea.pk, "price": 5000}, {"sku": tea.pk, "price": 4000}]}, "items"),
    ):
        answer = post(staff, "/api/v1/console/marketing/group-deals/", {**good, **change})
        assert answer.status_code == 400 and field in answer.json(), (change, answer.content)
    _open(beta, member(beta, "13800000216"), _deal(beta, deal_id), tea)
    assert staff.get(f"/api/v1/console/marketing/group-deals/{deal_id}/groups/").json()[0]["status"] == "pending"
    ended = post(staff, f"/api/v1/console/marketing/group-deals/{deal_id}/end/")
    assert ended.status_code == 200 and ended.json()["ended_at"]
    assert staff.get("/api/v1/console/marketing/group-deals/").json()["results"][0]["results"]["groups"] == 1


def _deal(tenant: Any, pk: int) -> Any:
    from shop.marketing.models import GroupDeal

    with in_shop(tenant):
        return GroupDeal.objects.get(pk=pk)


def test_the_feature_gate(alpha: Any) -> None:
    staff = owner_client(alpha)
    assert staff.get("/api/v1/console/marketing/group-deals/").status_code == 403
    shopper = member_client(alpha, member(alpha, "13800000217"))
    assert shopper.get("/api/v1/marketing/group-deals/").status_code == 403
    assert shopper.get("/api/v1/marketing/my-groups/").status_code == 403


def test_the_decorated_block_lists_the_running_deals(beta: Any) -> None:
    from shop.marketing import groups

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2)
    with in_shop(beta):
        [data] = groups.block_data([{"limit": 4}])
    assert [(i["deal"], i["sku"], i["group_price"], i["size"]) for i in data["items"]] == [(deal.pk, tea.pk, 6000, 2)]
    assert (data["items"][0]["price"], data["items"][0]["list_price"]) == (6000, 10000)  # a product card


def test_console_pages_create_show_and_end_a_deal(beta: Any) -> None:
    from shop.marketing.models import GroupDeal

    tea = product(beta, price=10000, stock=20)
    staff = owner_client(beta)
    assert staff.get("/console/marketing/group-deals/").status_code == 200
    now = timezone.localtime()
    form = {
        "name": "两人拼",
        "size": "2",
        "hours": "24",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "sku": str(tea.pk),
        "price": "60",
    }
    assert staff.post("/console/marketing/group-deals/", {**form, "size": "1"}).status_code == 400
    assert staff.post("/console/marketing/group-deals/", {**form, "price": "100"}).status_code == 400
    assert staff.post("/console/marketing/group-deals/", form).status_code == 302
    with in_shop(beta):
        deal = GroupDeal.objects.get()
        assert deal.items.get().price == 6000
    _open(beta, member(beta, "13800000218"), deal, tea)
    page = staff.get(f"/console/marketing/group-deals/{deal.pk}/")
    assert page.status_code == 200 and "两人拼" in page.content.decode()
    assert staff.post(f"/console/marketing/group-deals/{deal.pk}/end/").status_code == 302
    with in_shop(beta):
        deal.refresh_from_db()
        assert deal.ended_at is not None


def test_the_beat_task_expires_groups_in_every_shop(beta: Any) -> None:
    from shop.marketing import tasks

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2, hours=1, simulate_on_expiry=True)
    lead = _open(beta, member(beta, "13800000219"), deal, tea)
    _pay(beta, lead)
    from shop.marketing.models import Group

    with in_shop(beta):
        Group.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert tasks.expire_groups_all_shops() >= 2  # (eager here: each shop's task ran in its schema)
    assert _group(beta, lead).status == "succeeded"


def test_a_failed_group_reverses_the_commission_like_any_refund(beta: Any) -> None:
    from shop.marketing import groups
    from tests.distribution.conftest import balances, bound_buyer, configure, distributor, lines_of, sound

    configure(beta)
    sharer = distributor(beta)
    buyer = bound_buyer(beta, sharer)
    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2, hours=1)
    lead = _open(beta, buyer, deal, tea)
    _pay(beta, lead)
    (line,) = lines_of(beta, lead)
    assert line.amount > 0 and balances(beta, sharer)["pending"] == line.amount
    with in_shop(beta):
        assert groups.expire_groups(now=timezone.now() + timedelta(hours=2))["failed"] == 1
        lead.refresh_from_db()
        assert lead.status == "cancelled"
        assert list(lead.lines.values_list("refunded_amount", "refunded_quantity")) == [(6000, 1)]
    # the offline refund waits for the merchant to send the money back: the commission stands
    # (never settled: the order is cancelled) until it is back
    (line,) = lines_of(beta, lead)
    assert (line.reversed_amount, line.status) == (0, "pending")
    from shop.payments import services as payments
    from shop.payments.models import Refund

    with in_shop(beta):
        payments.offline_refund_sent(Refund.objects.get(payment__order=lead), reference="bank 7", actor="staff:1")
    (line,) = lines_of(beta, lead)
    assert (line.reversed_amount, line.status) == (line.amount, "reversed")
    assert balances(beta, sharer)["pending"] == 0
    sound(beta)


def test_a_payment_whose_event_was_lost_is_counted_by_the_beat_job(beta: Any) -> None:
    from shop.marketing import groups

    tea = product(beta, price=10000, stock=20)
    deal = group_deal(beta, [{"sku": tea.pk, "price": 6000}], size=2)
    lead = _open(beta, member(beta, "13800000220"), deal, tea)
    with mock.patch("shop.marketing.receivers.groups.order_paid"):  # the event never arrives
        _pay(beta, lead)
    assert _group(beta, lead).status == "pending"
    with in_shop(beta):
        groups.expire_groups()
    group = _group(beta, lead)
    assert (group.status, group.paid) == ("open", 1)
