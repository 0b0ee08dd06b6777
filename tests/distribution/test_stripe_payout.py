"""Stripe Connect payouts of withdrawals, at the Stripe SDK's HTTP-client boundary
(localstripe has no Connect): the exact transfer sent, its idempotency key naming the
shop, and a refusal marking the withdrawal failed with the funds back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.billing.conftest import stripe_boundary  # noqa: F401 - the fixture
from tests.conftest import english
from tests.distribution.conftest import balances, sound
from tests.distribution.test_withdrawals import _act, _ask, _earned
from tests.orders.conftest import member_client

pytestmark = pytest.mark.django_db
NONE = {"object": "list", "url": "/v1/transfers", "has_more": False, "data": []}  # no transfer yet


def _setup(tenant: Any, deliver: Any) -> tuple[Any, int]:
    from tests.distribution.conftest import configure

    configure(
        tenant,
        rate_level1_bp=1000,
        hold_days=0,
        withdrawal_minimum=100,
        withdrawal_fee_bp=100,
        withdrawal_methods=["stripe_connect"],
    )
    sharer = _earned(tenant, deliver)
    client = english(member_client(tenant, sharer.member))
    bad = _ask(client, {"amount": 500, "method": "stripe_connect", "account_details": {"stripe_account": "x"}})
    assert bad.status_code == 400 and "account_details" in bad.json()
    made = _ask(
        client, {"amount": 500, "method": "stripe_connect", "account_details": {"stripe_account": "acct_1Distrib"}}
    )
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    assert _act(tenant, pk, {"action": "approve"}).status_code == 200
    return sharer, pk


def test_an_approved_withdrawal_is_paid_by_a_transfer(alpha: Any, stripe_boundary: Any, deliver_events: Any) -> None:  # noqa: F811
    sharer, pk = _setup(alpha, deliver_events)
    http = stripe_boundary(
        [
            ("GET", "/v1/transfers", 200, NONE),
            ("POST", "/v1/transfers", 200, {"id": "tr_1Payout", "object": "transfer", "amount": 495}),
        ]
    )
    paid = _act(alpha, pk, {"action": "paid"})
    assert paid.status_code == 200, paid.content
    assert (paid.json()["status"], paid.json()["reference"]) == ("paid", "tr_1Payout")
    lookup, sent = http.requests  # first: is there a transfer of this withdrawal already?
    assert (lookup["method"], lookup["path"]) == ("GET", "/v1/transfers")
    assert (sent["method"], sent["path"]) == ("POST", "/v1/transfers")
    assert sent["params"] == {
        "amount": "495",
        "currency": "cny",
        "destination": "acct_1Distrib",
        "metadata[tenant_schema]": "shop_alpha",
        "metadata[withdrawal_id]": str(pk),
        "transfer_group": f"shop_alpha-withdrawal-{pk}",
    }
    assert sent["headers"]["Idempotency-Key"] == f"shop_alpha-withdrawal-{pk}-0"
    assert _act(alpha, pk, {"action": "paid"}).status_code == 200  # again: nothing sent twice
    assert len(http.requests) == 2
    assert balances(alpha, sharer)["paid_out"] == 495
    sound(alpha)


def test_a_refused_transfer_fails_the_withdrawal_and_gives_the_funds_back(
    alpha: Any,
    stripe_boundary: Any,  # noqa: F811
    deliver_events: Any,
) -> None:
    sharer, pk = _setup(alpha, deliver_events)
    refusal = {"error": {"type": "invalid_request_error", "message": "No such destination: 'acct_1Distrib'"}}
    stripe_boundary([("GET", "/v1/transfers", 200, NONE), ("POST", "/v1/transfers", 400, refusal)])
    failed = _act(alpha, pk, {"action": "paid"})
    assert failed.status_code == 200
    assert failed.json()["status"] == "failed" and "No such destination" in failed.json()["reason"]
    assert balances(alpha, sharer)["available"] == 1000 and balances(alpha, sharer)["withdrawing"] == 0
    sound(alpha)
