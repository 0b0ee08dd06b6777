"""A coupon shared by a distributor's code binds the buyer who claims it (source
"coupon", with the coupon as evidence), through the marketing API end to end."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import in_shop
from tests.distribution.conftest import configure, distributor, phone
from tests.marketing.helpers import coupon_template, post
from tests.orders.conftest import member, member_client

pytestmark = pytest.mark.django_db
CLAIM = "/api/v1/marketing/coupons/claim-code/"


def test_claiming_a_distributors_coupon_binds_the_buyer(alpha: Any, deliver_events: Any) -> None:
    from distribution.models import Binding, BindingEvent

    configure(alpha)
    sharer = distributor(alpha)
    coupon_template(alpha, name="from a distributor", distributor_code=sharer.code)
    buyer = member(alpha, phone())
    with deliver_events():
        made = post(member_client(alpha, buyer), CLAIM, {"code": sharer.code.lower()})
    assert made.status_code == 201, made.content
    with in_shop(alpha):
        binding = Binding.objects.get(member=buyer)
        event = BindingEvent.objects.get(member=buyer)
    assert (binding.distributor_id, binding.source) == (sharer.pk, "coupon")
    assert (event.to_distributor_id, event.source, event.evidence["code"]) == (sharer.pk, "coupon", sharer.code)
    assert event.evidence["coupon"] == made.json()["id"] and event.actor == f"member:{buyer.pk}"


def test_a_code_that_is_no_active_distributors_binds_nobody(alpha: Any, deliver_events: Any) -> None:
    from distribution import services
    from distribution.models import BindingEvent

    configure(alpha)
    frozen = distributor(alpha)
    with in_shop(alpha):
        services.distributor_action(frozen, "freeze")
    coupon_template(alpha, name="frozen", distributor_code=frozen.code)
    coupon_template(alpha, name="plain", distributor_code="SPRING2026")
    buyer = member(alpha, phone())
    client = member_client(alpha, buyer)
    with deliver_events():
        assert post(client, CLAIM, {"code": frozen.code}).status_code == 201
        assert post(client, CLAIM, {"code": "SPRING2026"}).status_code == 201
    with in_shop(alpha):
        assert not BindingEvent.objects.filter(member=buyer).exists()
