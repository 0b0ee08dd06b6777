"""After-sales through HTTP: refund only before shipment (offline refund recorded, stock
back, order closed), a partial return and refund after delivery (pro rata, the rest on
the last units), claims over what is left, the window, the completion timer's hold, other
members and other shops, and the console pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from shop import events
from shop.aftersales.models import AfterSale, AfterSaleReason
from shop.orders import services as orders
from shop.orders.models import Order, OrderLine
from shop.payments.models import Payment, Refund
from tests.aftersales.conftest import ask, buyer_and_client, delivered, line_ids, paid_order, post, stock_of
from tests.conftest import english, in_shop, owner_client, shop_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard() -> Any:
    """What the after-sales and refund events said, once their transactions committed."""
    got: list[tuple[str, Any]] = []

    def opened(sender: Any, aftersale: Any, **kwargs: Any) -> None:
        got.append(("opened", aftersale.pk))

    def closed(sender: Any, aftersale: Any, outcome: str, **kwargs: Any) -> None:
        got.append((f"closed:{outcome}", aftersale.pk))

    def refunded(sender: Any, order: Any, refund: Any, **kwargs: Any) -> None:
        got.append(("refunded", refund.amount))

    def cancelled(sender: Any, order: Any, reason: str, **kwargs: Any) -> None:
        got.append(("order_cancelled", order.pk))

    pairs: list[tuple[Any, Callable[..., None]]] = [
        (events.aftersale_opened, opened),
        (events.aftersale_closed, closed),
        (events.order_refunded, refunded),
        (events.order_cancelled, cancelled),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver)
    yield got
    for signal, receiver in pairs:
        signal.disconnect(receiver)


def test_refund_only_before_shipment_gives_money_and_stock_back_and_closes_the_order(
    alpha: Any, heard: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(2_500, 2), (1_000, 1)])
    first, second = line_ids(alpha, order)
    assert stock_of(alpha, order) == [8, 9]
    staff = owner_client(alpha)
    with django_capture_on_commit_callbacks(execute=True):
        made = ask(client, alpha, order, [(first, 2), (second, 1)])
        assert made.status_code == 201, made.content
        body = made.json()
        assert (body["status"], body["kind"], body["refund_amount"]) == ("requested", "refund_only", 6_000)
        assert [(line["line"], line["quantity"], line["amount"]) for line in body["lines"]] == [
            (first, 2, 5_000),
            (second, 1, 1_000),
        ]
        pk = body["id"]
        # the console page approves; the console API refunds, no reference: the money is not back yet
        assert staff.post(f"/console/aftersales/{pk}/", {"action": "approve"}).status_code == 302
        refunded = post(staff, f"/api/v1/console/aftersales/{pk}/refund/")
        assert refunded.status_code == 200, refunded.content
        assert (refunded.json()["status"], refunded.json()["refund_state"]) == ("refunded", "pending")
        assert stock_of(alpha, order) == [10, 10]  # the units were never shipped: back in stock
        with in_shop(alpha):
            # the money is not back yet: the order stays open until it is
            assert Order.objects.get(pk=order.pk).status == "paid"
            assert Payment.objects.get(order=order).refunded_amount == 6_000
            refund = Refund.objects.get()
            assert (refund.status, refund.amount) == ("pending", 6_000)
        page = staff.get(f"/console/aftersales/{pk}/").content.decode()
        assert 'value="refund_sent"' in page
        # the merchant sends the money and records how
        bad = staff.post(f"/console/aftersales/{pk}/", {"action": "refund_sent", "refund": refund.pk, "reference": ""})
        assert bad.status_code == 400
        sent = {"action": "refund_sent", "refund": refund.pk, "reference": "微信转账 88"}
        assert staff.post(f"/console/aftersales/{pk}/", sent).status_code == 302
        with in_shop(alpha):
            closed = Order.objects.get(pk=order.pk)
            assert closed.status == "cancelled"  # every unit refunded and the money back: closed
            assert closed.log.last().note == "refunded in full by after-sales"  # type: ignore[union-attr]
    mine = client.get(f"/api/v1/aftersales/{pk}/").json()
    assert mine["refund_state"] == "succeeded" and mine["refunds"][0]["reference"].startswith("微信转账 88")
    assert stock_of(alpha, order) == [10, 10]  # not returned a second time by closing the order
    assert heard == [
        ("opened", pk),
        ("closed:refunded", pk),
        ("refunded", 6_000),
        ("order_cancelled", order.pk),
    ]
    # a closed order takes no more after-sales
    again = ask(client, alpha, order, [(first, 1)])
    assert again.status_code == 400 and "order" in again.json()


def test_partial_return_and_refund_after_delivery_pro_rata_with_the_rest_on_the_last_units(
    alpha: Any, heard: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(3_400, 3)])
    (line,) = line_ids(alpha, order)
    with in_shop(alpha):  # a discount share left 100.00 paid for the 3 units
        OrderLine.objects.filter(pk=line).update(amount_paid=10_000)
    delivered(alpha, order)
    staff = owner_client(alpha)
    with django_capture_on_commit_callbacks(execute=True):
        one = ask(client, alpha, order, [(line, 1)], kind="return_refund").json()
        assert one["refund_amount"] == 3_333  # 10000 × 1 ÷ 3, rounded down
        pk = one["id"]
        early = post(client, f"/api/v1/aftersales/{pk}/return/", {"carrier": "顺丰", "tracking_number": "SF9"})
        assert early.status_code == 400 and "status" in early.json()  # not approved yet
        assert post(staff, f"/api/v1/console/aftersales/{pk}/approve/").json()["status"] == "awaiting_return"
        assert post(staff, f"/api/v1/console/aftersales/{pk}/refund/").status_code == 400  # nothing came back yet
        returned = post(client, f"/api/v1/aftersales/{pk}/return/", {"carrier": "顺丰", "tracking_number": "SF9"})
        assert (returned.json()["status"], returned.json()["tracking_number"]) == ("returned", "SF9")
        assert stock_of(alpha, order) == [7]
        assert post(staff, f"/api/v1/console/aftersales/{pk}/receive/").json()["stock_returned"] is True
        assert stock_of(alpha, order) == [8]  # the returned unit is back on the shelf
        done = post(staff, f"/api/v1/console/aftersales/{pk}/refund/", {"reference": "转账 1"}).json()
        assert (done["status"], done["refund_state"]) == ("refunded", "succeeded")
        # the last two units get the rest: 10000 − 3333
        rest = ask(client, alpha, order, [(line, 2)], kind="return_refund").json()
        assert rest["refund_amount"] == 6_667
        with in_shop(alpha):
            assert Order.objects.get(pk=order.pk).status == "delivered"  # one unit refunded, not all
    assert stock_of(alpha, order) == [8]
    assert ("refunded", 3_333) in heard and ("closed:refunded", pk) in heard
    with in_shop(alpha):
        assert Payment.objects.get(order=order).refunded_amount == 3_333


def test_line_amounts_never_exceed_what_was_paid() -> None:
    from shop.payments.allocation import LineLeft, unit_value

    line = OrderLine(quantity=7, amount_paid=1_000)
    left = LineLeft(line)
    claimed_units = claimed_amount = 0
    for quantity in (2, 1, 3, 1):
        amount = unit_value(left, quantity)
        units_left, amount_left = 7 - claimed_units, 1_000 - claimed_amount
        assert amount == (amount_left * quantity // units_left if quantity < units_left else amount_left)
        claimed_units, claimed_amount = claimed_units + quantity, claimed_amount + amount
        left = LineLeft(line, claimed_units, claimed_amount)  # what earlier requests hold
    assert (claimed_units, claimed_amount) == (7, 1_000)


def test_claims_over_what_is_left_are_refused_and_released_units_are_claimable_again(alpha: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 3)])
    (line,) = line_ids(alpha, order)
    first = ask(client, alpha, order, [(line, 2)]).json()
    over = ask(english(client), alpha, order, [(line, 2)])
    assert over.status_code == 400 and "Only 1" in over.json()["lines"][0]
    staff = owner_client(alpha)
    bad = post(staff, f"/api/v1/console/aftersales/{first['id']}/reject/", {"reason": ""})
    assert bad.status_code == 400 and "reason" in bad.json()
    rejected = post(staff, f"/api/v1/console/aftersales/{first['id']}/reject/", {"reason": "已发货,请走退货"}).json()
    assert (rejected["status"], rejected["reject_reason"]) == ("rejected", "已发货,请走退货")
    assert ask(client, alpha, order, [(line, 3)]).status_code == 201  # rejected units are free again
    with in_shop(alpha):
        assert AfterSale.objects.filter(order=order).count() == 2


def test_the_window_closes_after_delivery(alpha: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 1)])
    (line,) = line_ids(alpha, order)
    delivered(alpha, order)
    with in_shop(alpha):
        Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=7, minutes=1))
    late = ask(english(client), alpha, order, [(line, 1)], kind="return_refund")
    assert late.status_code == 400 and "7 days" in late.json()["order"][0]
    with in_shop(alpha):
        Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=6, hours=23))
    assert ask(client, alpha, order, [(line, 1)], kind="return_refund").status_code == 201


def test_the_completion_timer_leaves_an_order_with_an_open_aftersale_alone(alpha: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 2)])
    other = paid_order(alpha, buyer, [(500, 1)])
    (line,) = line_ids(alpha, order)
    delivered(alpha, order)
    delivered(alpha, other)
    pk = ask(client, alpha, order, [(line, 1)], kind="return_refund").json()["id"]
    later = timezone.now() + timedelta(days=8)
    with in_shop(alpha):
        assert orders.run_timers(later)["completed"] == 1  # the other order only
        assert Order.objects.get(pk=order.pk).status == "delivered"
        assert Order.objects.get(pk=other.pk).status == "completed"
    assert post(client, f"/api/v1/aftersales/{pk}/cancel/").json()["status"] == "cancelled"
    with in_shop(alpha):
        assert orders.run_timers(later)["completed"] == 1
        assert Order.objects.get(pk=order.pk).status == "completed"


def test_other_members_and_other_shops_get_404(alpha: Any, beta: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 1)])
    (line,) = line_ids(alpha, order)
    pk = ask(client, alpha, order, [(line, 1)]).json()["id"]
    _stranger, stranger = buyer_and_client(alpha, "13900139000")
    assert stranger.get(f"/api/v1/aftersales/{pk}/").status_code == 404
    assert post(stranger, f"/api/v1/aftersales/{pk}/cancel/").status_code == 404
    assert post(stranger, f"/api/v1/aftersales/{pk}/return/", {"carrier": "a", "tracking_number": "b"}).status_code == (
        404
    )
    assert ask(stranger, alpha, order, [(line, 1)]).status_code == 404
    assert stranger.get("/api/v1/aftersales/").json()["results"] == []
    assert [a["id"] for a in client.get("/api/v1/aftersales/").json()["results"]] == [pk]
    # beta's own member and staff know nothing of alpha's after-sale
    _beta_buyer, beta_client = buyer_and_client(beta)
    assert beta_client.get(f"/api/v1/aftersales/{pk}/").status_code in (404,)
    with in_shop(beta):
        assert not AfterSale.objects.filter(pk=pk).exists()
    assert owner_client(beta).get(f"/console/aftersales/{pk}/").status_code == 404
    assert post(owner_client(beta), f"/api/v1/console/aftersales/{pk}/approve/").status_code == 404
    assert shop_client(alpha).get("/api/v1/aftersales/").status_code in (401, 403)  # no token


def test_console_pages_list_filter_and_edit_reasons(alpha: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 2)])
    (line,) = line_ids(alpha, order)
    first = ask(client, alpha, order, [(line, 1)]).json()["id"]
    second = ask(client, alpha, order, [(line, 1)]).json()["id"]
    staff = owner_client(alpha)
    post(staff, f"/api/v1/console/aftersales/{second}/approve/")
    page = staff.get("/console/aftersales/?status=requested").content.decode()
    assert f'/console/aftersales/{first}/"' in page and f'/console/aftersales/{second}/"' not in page
    assert [a["id"] for a in staff.get("/api/v1/console/aftersales/?status=approved").json()["results"]] == [second]
    assert staff.post(f"/console/aftersales/{first}/", {"action": "nonsense"}).status_code == 400
    rejected = staff.post(f"/console/aftersales/{first}/", {"action": "reject", "reject_reason": ""})
    assert rejected.status_code == 400
    # reasons: the defaults, an edit, a new one; bad input named
    names = [r["name"] for r in staff.get("/api/v1/console/aftersale-reasons/").json()]
    assert names == ["不想要了", "质量问题", "发错货", "少件漏发", "其他"]
    assert staff.get("/console/aftersales/reasons/").status_code == 200
    assert staff.post("/console/aftersales/reasons/", {"name": "", "position": "1"}).status_code == 400
    assert staff.post("/console/aftersales/reasons/", {"name": "尺码不合适", "position": "x"}).status_code == 400
    assert staff.post(
        "/console/aftersales/reasons/", {"name": "尺码不合适", "position": "5", "is_active": "on"}
    ).status_code == (302)
    with in_shop(alpha):
        other = AfterSaleReason.objects.get(name="其他")
    assert staff.post(f"/console/aftersales/reasons/{other.pk}/", {"name": "其它", "position": "99"}).status_code == 302
    offered = [r["name"] for r in client.get("/api/v1/aftersale-reasons/").json()]
    assert offered == ["尺码不合适", "不想要了", "质量问题", "发错货", "少件漏发"]  # 其它 is no longer offered
    api_made = post(staff, "/api/v1/console/aftersale-reasons/", {"name": "描述不符", "position": 7})
    assert api_made.status_code == 201
    patched = staff.patch(
        f"/api/v1/console/aftersale-reasons/{api_made.json()['id']}/",
        data='{"is_active": "no"}',
        content_type="application/json",
    )
    assert patched.status_code == 400 and "is_active" in patched.json()
    with in_shop(alpha):
        inactive = AfterSaleReason.objects.get(name="其它").pk
    refused = post(
        client,
        f"/api/v1/orders/{order.pk}/aftersales/",
        {"kind": "refund_only", "reason": inactive, "lines": [{"line": line, "quantity": 1}]},
    )
    assert refused.status_code == 400 and "reason" in refused.json()


def test_close_moves_a_paid_order_to_cancelled_without_returning_stock(alpha: Any) -> None:
    buyer, _client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 2)])
    assert stock_of(alpha, order) == [8]
    with in_shop(alpha):
        closed = orders.order_close(order, actor="staff:1", note="refunded in full by after-sales")
        assert (closed.status, closed.cancel_reason) == ("cancelled", "refunded in full by after-sales")
        entry = closed.log.last()
        assert entry is not None and (entry.from_status, entry.to_status) == ("paid", "cancelled")
        with pytest.raises(orders.TransitionRefused):
            orders.order_close(closed, actor="staff:1", note="again")
    assert stock_of(alpha, order) == [8]
