"""Bad input on every after-sales write: a 400 naming the field, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from shop.aftersales.models import AfterSale, AfterSaleLog
from tests.aftersales.conftest import ask, buyer_and_client, line_ids, paid_order, post, reason_id
from tests.conftest import in_shop, owner_client
from tests.payments.conftest import unpaid_order

pytestmark = pytest.mark.django_db


def test_bad_requests_for_an_aftersale_name_the_field(alpha: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 2)])
    other = paid_order(alpha, buyer, [(500, 1)])
    (line,) = line_ids(alpha, order)
    (foreign_line,) = line_ids(alpha, other)
    reason = reason_id(alpha)
    good = {"kind": "refund_only", "reason": reason, "note": "", "lines": [{"line": line, "quantity": 1}]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "kind": None}, "kind"),
        ({**good, "kind": "exchange"}, "kind"),
        ({**good, "kind": "return_refund"}, "kind"),  # nothing shipped yet
        ({**good, "reason": None}, "reason"),
        ({**good, "reason": 999_999}, "reason"),
        ({**good, "reason": "abc"}, "reason"),
        ({**good, "note": "x" * 201}, "note"),
        ({**good, "note": 5}, "note"),
        ({**good, "lines": []}, "lines"),
        ({**good, "lines": "all"}, "lines"),
        ({**good, "lines": [line]}, "lines"),
        ({**good, "lines": [{"line": "x", "quantity": 1}]}, "lines"),
        ({**good, "lines": [{"line": foreign_line, "quantity": 1}]}, "lines"),
        ({**good, "lines": [{"line": line, "quantity": 0}]}, "lines"),
        ({**good, "lines": [{"line": line, "quantity": True}]}, "lines"),
        ({**good, "lines": [{"line": line, "quantity": "1"}]}, "lines"),
        ({**good, "lines": [{"line": line, "quantity": 3}]}, "lines"),  # over the 2 bought
        ({**good, "lines": [{"line": line, "quantity": 1}, {"line": line, "quantity": 1}]}, "lines"),
    ]
    for body, field in cases:
        response = post(client, f"/api/v1/orders/{order.pk}/aftersales/", body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json(), (body, response.json())
    not_json = client.post(f"/api/v1/orders/{order.pk}/aftersales/", data="[1]", content_type="application/json")
    assert not_json.status_code == 400
    unpaid = unpaid_order(alpha, buyer)
    (unpaid_line,) = line_ids(alpha, unpaid)
    refused = ask(client, alpha, unpaid, [(unpaid_line, 1)])
    assert refused.status_code == 400 and "order" in refused.json()
    with in_shop(alpha):
        assert not AfterSale.objects.exists()  # nothing half-written
    assert post(client, f"/api/v1/orders/{order.pk}/aftersales/", good).status_code == 201


def test_bad_actions_on_an_aftersale_name_the_field(alpha: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(1_000, 2)])
    (line,) = line_ids(alpha, order)
    pk = ask(client, alpha, order, [(line, 1)]).json()["id"]
    staff = owner_client(alpha)
    api = f"/api/v1/console/aftersales/{pk}"
    # the buyer: no return before approval (and not for a refund only), carrier and tracking named
    missing = post(client, f"/api/v1/aftersales/{pk}/return/", {"carrier": " ", "tracking_number": 7})
    assert missing.status_code == 400 and {"carrier", "tracking_number"} <= set(missing.json())
    long = post(client, f"/api/v1/aftersales/{pk}/return/", {"carrier": "a" * 41, "tracking_number": "b"})
    assert long.status_code == 400 and "carrier" in long.json()
    early = post(client, f"/api/v1/aftersales/{pk}/return/", {"carrier": "a", "tracking_number": "b"})
    assert early.status_code == 400 and "status" in early.json()
    # the merchant: each action only in its state
    for action in ("receive", "refund"):
        refused = post(staff, f"{api}/{action}/")
        assert refused.status_code == 400 and "status" in refused.json(), action
    assert "reason" in post(staff, f"{api}/reject/", {"reason": None}).json()
    assert "reason" in post(staff, f"{api}/reject/", {"reason": "r" * 201}).json()
    assert post(staff, f"{api}/approve/").json()["status"] == "approved"
    again = post(staff, f"{api}/approve/")
    assert again.status_code == 400 and "status" in again.json()
    assert "reason" in post(staff, f"{api}/reject/", {}).json()  # ending it needs a reason
    assert "status" in post(client, f"/api/v1/aftersales/{pk}/cancel/").json()  # approved: too late to withdraw
    assert "reference" in post(staff, f"{api}/refund/", {"reference": "r" * 121}).json()
    assert "reference" in post(staff, f"{api}/refund/", {"reference": 12}).json()
    assert "refund" in post(staff, f"{api}/refund-sent/", {"refund": 1, "reference": "x"}).json()  # none yet
    assert post(staff, f"{api}/refund/").json()["refund_state"] == "pending"
    refund = staff.get(f"{api}/").json()["refunds"][0]["id"]
    assert "reference" in post(staff, f"{api}/refund-sent/", {"refund": refund, "reference": ""}).json()
    assert "refund" in post(staff, f"{api}/refund-sent/", {"refund": "abc", "reference": "x"}).json()
    assert "status" in post(staff, f"{api}/refund/").json()  # refunded once, never twice
    assert post(staff, f"{api}/refund-sent/", {"refund": refund, "reference": "现金"}).json()["refund_state"] == (
        "succeeded"
    )
    with in_shop(alpha):
        log = list(AfterSaleLog.objects.filter(aftersale_id=pk).values_list("from_status", "to_status"))
    assert log == [("", "requested"), ("requested", "approved"), ("approved", "refunded")]


def test_reason_editor_bad_input(alpha: Any) -> None:
    staff = owner_client(alpha)
    url = "/api/v1/console/aftersale-reasons/"
    for body, field in (
        ({}, "name"),
        ({"name": " "}, "name"),
        ({"name": "x" * 61}, "name"),
        ({"name": "ok", "position": -1}, "position"),
        ({"name": "ok", "position": True}, "position"),
        ({"name": "ok", "is_active": "yes"}, "is_active"),
    ):
        response = post(staff, url, body)
        assert response.status_code == 400 and field in response.json(), body
    assert client_cannot_edit_reasons(alpha)


def client_cannot_edit_reasons(alpha: Any) -> bool:
    _buyer, client = buyer_and_client(alpha, "13700137000")
    return bool(post(client, "/api/v1/console/aftersale-reasons/", {"name": "x"}).status_code in (401, 403))
