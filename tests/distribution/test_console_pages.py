"""Merchant console pages: the distributors list with review actions, the withdrawals
queue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import english, in_shop, owner_client
from tests.distribution.conftest import configure, distributor

pytestmark = pytest.mark.django_db


def test_review_and_freeze_from_the_distributors_page(beta: Any) -> None:
    from distribution import services
    from distribution.models import Distributor
    from tests.orders.conftest import member

    configure(beta, distributor_word="推广大使")
    applicant = member(beta, "13866667777")
    with in_shop(beta):
        pending = services.distributor_apply(applicant, {}, agreement_accepted=True)
    active = distributor(beta)
    client = english(owner_client(beta))
    page = client.get("/console/distribution/distributors/?status=pending")
    assert page.status_code == 200
    body = page.content.decode()
    assert "推广大使" in body and pending.code in body and active.code not in body
    assert client.post(f"/console/distribution/distributors/{pending.pk}/", {"action": "approve"}).status_code == 302
    assert client.post(f"/console/distribution/distributors/{active.pk}/", {"action": "freeze"}).status_code == 302
    refused = client.post(f"/console/distribution/distributors/{active.pk}/", {"action": "approve"}, follow=True)
    assert "Not possible while the distributor is" in refused.content.decode()
    with in_shop(beta):
        assert Distributor.objects.get(pk=pending.pk).status == "active"
        assert Distributor.objects.get(pk=active.pk).status == "frozen"


def test_withdrawals_queue_approve_and_pay(alpha: Any, deliver_events: Any) -> None:
    from distribution.models import Withdrawal
    from tests.distribution.test_withdrawals import _ask, _earned
    from tests.orders.conftest import member_client

    configure(alpha, rate_level1_bp=1000, hold_days=0, withdrawal_minimum=100, withdrawal_methods=["bank"])
    sharer = _earned(alpha, deliver_events)
    made = _ask(
        member_client(alpha, sharer.member),
        {"amount": 500, "method": "bank", "account_details": {"account_number": "6222 0000"}},
    )
    pk = made.json()["id"]
    client = english(owner_client(alpha))
    queue = client.get("/console/distribution/withdrawals/").content.decode()
    assert "6222 0000" in queue and "¥5.00" in queue
    assert client.post(f"/console/distribution/withdrawals/{pk}/", {"action": "approve"}).status_code == 302
    no_reference = client.post(f"/console/distribution/withdrawals/{pk}/", {"action": "paid"}, follow=True)
    assert "Give the payment reference." in no_reference.content.decode()
    client.post(f"/console/distribution/withdrawals/{pk}/", {"action": "paid", "reference": "网银 123"})
    with in_shop(alpha):
        w = Withdrawal.objects.get(pk=pk)
        assert (w.status, w.reference) == ("paid", "网银 123")
