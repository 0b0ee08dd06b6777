"""Refunds recorded per order line, whatever the path: what the merchant says a refund is
for (lines and units, shipping, an amount for the goods by the documented rule), through
the console API and the order page's form; bad input answered 400 field by field with
nothing written; a failed refund gives its lines back; the member's order API shows
each line's id and what is left to refund; another shop's orders are out of reach."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import english, in_shop, owner_client
from tests.distribution import money
from tests.orders.conftest import member, member_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver_events(django_capture_on_commit_callbacks: Any) -> Any:
    """Run a block with the after-commit events delivered."""

    @contextmanager
    def run() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run


def _post(client: Any, url: str, data: Any, **extra: Any) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json", **extra)


def _paid(tenant: Any, deliver: Any) -> Any:
    """Tea ×2 at 30.00 and a cup at 15.00, shipping 8.00: paid offline 83.00."""
    money.shipping(tenant, 800)
    tea, cup = money.skus(tenant, ("Tea", 3000), ("Cup", 1500))
    buyer = member(tenant, "13900001111")
    placed = money.confirm_offline(tenant, money.order(tenant, buyer, [(tea, 2), (cup, 1)]), deliver)
    assert placed.payable == 8300
    return placed


def _figures(tenant: Any, order: Any) -> tuple[list[tuple[int, int]], int, int]:
    from shop.payments.models import Payment

    with in_shop(tenant):
        order.refresh_from_db()
        lines = list(order.lines.order_by("id").values_list("refunded_amount", "refunded_quantity"))
        return lines, order.shipping_refunded, Payment.objects.get(order=order).refunded_amount


def test_the_console_api_refunds_units_and_shipping_and_says_what_for(alpha: Any, deliver_events: Any) -> None:
    placed = _paid(alpha, deliver_events)
    with in_shop(alpha):
        tea, cup = placed.lines.order_by("id").values_list("pk", flat=True)
    staff = owner_client(alpha)
    url = f"/api/v1/console/orders/{placed.pk}/refunds/"
    body = {"lines": [{"line": tea, "quantity": 1}], "shipping": 300, "reason": "one tea broken", "reference": "TX1"}
    made = _post(staff, url, body, HTTP_IDEMPOTENCY_KEY="refund-tea-0001")
    assert made.status_code == 201, made.content
    refund = made.json()
    assert (refund["amount"], refund["status"]) == (3300, "succeeded")
    assert [(p["kind"], p["order_line"], p["amount"], p["quantity"]) for p in refund["parts"]] == [
        ("goods", tea, 3000, 1),
        ("shipping", None, 300, 0),
    ]
    again = _post(staff, url, body, HTTP_IDEMPOTENCY_KEY="refund-tea-0001")  # a retry: the same refund
    assert again.json()["id"] == refund["id"]
    assert _figures(alpha, placed) == ([(3000, 1), (0, 0)], 300, 3300)
    # an amount for the goods: spread by what each line has left (3000 and 1500)
    spread = _post(staff, url, {"amount": 900, "reference": "TX2"}).json()
    assert [(p["order_line"], p["amount"]) for p in spread["parts"]] == [(tea, 600), (cup, 300)]
    listed = staff.get(url).json()
    assert [r["amount"] for r in listed] == [3300, 900]
    # the buyer's order API: line ids, what was refunded and what is left
    with in_shop(alpha):
        buyer = placed.member
    lines = member_client(alpha, buyer).get(f"/api/v1/orders/{placed.pk}/").json()["lines"]
    assert [
        (x["id"], x["refunded_amount"], x["refunded_quantity"], x["refundable_amount"], x["refundable_quantity"])
        for x in lines
    ] == [(tea, 3600, 1, 2400, 1), (cup, 300, 0, 1200, 1)]


def test_bad_refund_requests_are_field_errors_and_write_nothing(alpha: Any, deliver_events: Any) -> None:
    from shop.payments.models import Refund, RefundLine

    placed = _paid(alpha, deliver_events)
    with in_shop(alpha):
        tea, cup = placed.lines.order_by("id").values_list("pk", flat=True)
    staff = english(owner_client(alpha))
    url = f"/api/v1/console/orders/{placed.pk}/refunds/"
    cases = [
        ({"lines": [{"line": tea, "quantity": 3}]}, "lines", "Only 2"),
        ({"lines": [{"line": cup, "quantity": 0, "amount": 1501}]}, "lines", "At most"),
        ({"lines": [{"line": 999_999, "quantity": 1}]}, "lines", "not part of this order"),
        ({"shipping": 801}, "shipping", "At most"),
        ({"amount": 8301}, "amount", "At most"),
        ({"amount": 100, "lines": [{"line": tea, "quantity": 1}]}, "amount", "not both"),
        ({"lines": [{"line": tea, "quantity": "２"}]}, "lines", ""),
        ({"amount": -5}, "amount", ""),
        ({}, "lines", "Choose what to refund"),
        ({"payment": 424242, "amount": 100}, "payment", "Choose a payment"),
    ]
    for body, field, words in cases:
        response = _post(staff, url, body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json(), (body, response.json())
        assert words in json.dumps(response.json(), ensure_ascii=False), (body, response.json())
    with in_shop(alpha):
        assert not Refund.objects.exists() and not RefundLine.objects.exists()
    assert _figures(alpha, placed) == ([(0, 0), (0, 0)], 0, 0)


def test_another_shops_order_is_not_found(alpha: Any, beta: Any, deliver_events: Any) -> None:
    placed = _paid(alpha, deliver_events)
    other = owner_client(beta)
    assert other.get(f"/api/v1/console/orders/{placed.pk}/refunds/").status_code == 404
    assert _post(other, f"/api/v1/console/orders/{placed.pk}/refunds/", {"amount": 100}).status_code == 404
    assert _figures(alpha, placed) == ([(0, 0), (0, 0)], 0, 0)


def test_a_failed_refund_gives_its_lines_back(alpha: Any, deliver_events: Any) -> None:
    from shop.payments import records
    from shop.payments.models import Refund

    placed = _paid(alpha, deliver_events)
    with in_shop(alpha):
        tea, _cup = placed.lines.order_by("id").values_list("pk", flat=True)
    staff = owner_client(alpha)
    pending = _post(staff, f"/api/v1/console/orders/{placed.pk}/refunds/", {"lines": [{"line": tea, "quantity": 2}]})
    assert pending.json()["status"] == "pending"  # offline, money not sent back yet
    assert _figures(alpha, placed) == ([(6000, 2), (0, 0)], 0, 6000)  # held while on its way
    with in_shop(alpha), deliver_events():
        records.refund_failed(Refund.objects.get().pk, "the bank account was closed")
    assert _figures(alpha, placed) == ([(0, 0), (0, 0)], 0, 0)
    assert money.findings(alpha) == []


def test_the_order_page_form_says_what_the_refund_is_for(alpha: Any, deliver_events: Any) -> None:
    placed = _paid(alpha, deliver_events)
    with in_shop(alpha):
        tea, cup = placed.lines.order_by("id").values_list("pk", flat=True)
    staff = english(owner_client(alpha))
    page = staff.get(f"/console/orders/{placed.pk}/").content.decode()
    assert "What is this refund for?" in page and f'name="qty_{tea}"' in page and 'name="shipping"' in page
    assert "¥60.00" in page and "¥8.00" in page  # each line's refundable amount, the shipping left
    wrong = staff.post(
        f"/console/orders/{placed.pk}/",
        {"action": "refund", "for": "lines", f"qty_{tea}": "5", "reference": "TX"},
    )
    assert wrong.status_code == 400 and "Only 2 of Tea" in wrong.content.decode()
    assert 'value="5"' in wrong.content.decode()  # what the merchant typed is kept
    done = staff.post(
        f"/console/orders/{placed.pk}/",
        {"action": "refund", "for": "lines", f"qty_{cup}": "1", "shipping": "8.00", "reference": "TX3"},
    )
    assert done.status_code == 302
    assert _figures(alpha, placed) == ([(0, 0), (1500, 1)], 800, 2300)
    page = staff.get(f"/console/orders/{placed.pk}/").content.decode()
    assert "For: Cup ×1 ¥15.00 · shipping ¥8.00" in page
    shipping_gone = staff.post(f"/console/orders/{placed.pk}/", {"action": "refund", "for": "amount", "amount": "61"})
    assert shipping_gone.status_code == 400 and "At most ¥60.00" in shipping_gone.content.decode()
