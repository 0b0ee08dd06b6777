"""Compliance and fraud flags shown to the merchant: self-referral through linked
accounts (same phone or address, same device), and refunds after settlement."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import in_shop, owner_client
from tests.distribution.conftest import configure, distributor

pytestmark = pytest.mark.django_db


def test_fraud_flags_self_referral_and_clawbacks(beta: Any) -> None:
    from distribution import ledger, services
    from distribution.models import Account
    from shop.members import services as members
    from tests.orders.conftest import member

    configure(beta)
    sharer = distributor(beta)
    with in_shop(beta):
        members.address_create(
            sharer.member,
            recipient="李四",
            phone="13877778888",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路 1 号",
        )
    twin = member(beta, "13877778888")  # its address has the phone on the sharer's address
    honest = member(beta, "13877779999")
    with in_shop(beta):
        services.bind(twin, sharer, source="link", evidence={}, actor="t")
        from shop.members.models import Address

        Address.objects.filter(member=honest).update(phone="13600000000", detail="别处 9 号")
        services.bind(honest, sharer, source="link", evidence={}, actor="t")
        accounts = ledger.lock_accounts([(sharer.pk, Account.CLAWBACK_DEBT), (None, Account.COMMISSION_EXPENSE)])
        ledger.post(
            [
                ledger.Posting(
                    "clawback",
                    "test-debt",
                    "t",
                    [((sharer.pk, Account.CLAWBACK_DEBT), -50), ((None, Account.COMMISSION_EXPENSE), 50)],
                )
            ],
            accounts,
        )
    flags = owner_client(beta).get("/api/v1/console/distribution/flags/").json()["flags"]
    kinds = {(f["kind"], f.get("member")) for f in flags}
    assert ("self_referral", twin.pk) in kinds
    assert ("self_referral", honest.pk) not in kinds
    assert any(f["kind"] == "refund_after_settlement" and f["evidence"]["debt"] == 50 for f in flags)
