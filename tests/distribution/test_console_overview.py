"""The merchant's distribution overview (GMV via distributors, commission by state, top
distributors, flags), rankings, commission lines with filters, and a member's binding
history with re-binding for disputes — pages and APIs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import english, in_shop, owner_client
from tests.distribution.conftest import bound_buyer, configure, distributor, pay
from tests.orders.conftest import member_client

pytestmark = pytest.mark.django_db


def _two_sellers(tenant: Any, deliver: Any) -> tuple[Any, Any, Any, Any]:
    configure(tenant, rate_level1_bp=1000, levels=1)
    big, small = distributor(tenant), distributor(tenant)
    big_order = pay(tenant, bound_buyer(tenant, big), [(20000, 1)], deliver)
    small_order = pay(tenant, bound_buyer(tenant, small), [(5000, 1)], deliver)
    return big, small, big_order, small_order


def test_overview_and_rankings(alpha: Any, deliver_events: Any) -> None:
    big, small, _o1, _o2 = _two_sellers(alpha, deliver_events)
    staff = english(owner_client(alpha))
    api = staff.get("/api/v1/console/distribution/overview/?period=all").json()
    assert (api["gmv"], api["orders"], api["commission"]["pending"]) == (25000, 2, 2500)
    assert [r["distributor"] for r in api["top"]] == [big.pk, small.pk]
    assert api["distributors"]["active"] == 2 and isinstance(api["flags"], int)
    page = staff.get("/console/distribution/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "¥250.00" in html and "¥25.00" in html and big.code in html
    ranked = staff.get("/api/v1/console/distribution/rankings/?period=month").json()["rankings"]
    assert [(r["rank"], r["code"], r["sales"]) for r in ranked] == [(1, big.code, 20000), (2, small.code, 5000)]
    # the member side: names of others masked, mine marked
    mine = member_client(alpha, small.member).get("/api/v1/distribution/rankings/").json()["rankings"]
    assert [(r["rank"], r["me"]) for r in mine] == [(1, False), (2, True)]
    assert mine[0]["name"].endswith("**")


def test_commission_lines_with_filters(alpha: Any, deliver_events: Any) -> None:
    big, small, big_order, _o2 = _two_sellers(alpha, deliver_events)
    staff = english(owner_client(alpha))
    every = staff.get("/console/distribution/commissions/")
    assert every.status_code == 200 and "2 lines" in every.content.decode()
    by_code = staff.get("/console/distribution/commissions/", {"distributor": big.code.lower()}).content.decode()
    assert "1 line" in by_code and big_order.number in by_code and "10% of ¥200.00 paid" in by_code
    assert "1 line" in staff.get("/console/distribution/commissions/", {"order": big_order.number}).content.decode()
    assert "0 lines" in staff.get("/console/distribution/commissions/", {"status": "settled"}).content.decode()
    assert "0 lines" in staff.get("/console/distribution/commissions/", {"since": "not-a-date"}).content.decode()
    api = staff.get("/api/v1/console/distribution/commissions/", {"distributor": small.pk}).json()
    assert api["count"] == 1 and api["results"][0]["distributor"] == small.pk


def test_binding_history_and_rebind_page(alpha: Any) -> None:
    configure(alpha)
    first, second = distributor(alpha), distributor(alpha)
    buyer = bound_buyer(alpha, first)
    staff = english(owner_client(alpha))
    url = f"/console/distribution/members/{buyer.pk}/binding/"
    found = staff.get("/console/distribution/bindings/", {"q": buyer.phone})
    assert found.status_code == 302 and found["Location"] == url
    assert "Nobody matches." in staff.get("/console/distribution/bindings/", {"q": "19999999999"}).content.decode()
    page = staff.get(url).content.decode()
    assert first.code in page and "Link" in page and "test" in page
    missing = staff.post(url, {"code": second.code, "reason": ""})
    assert missing.status_code == 400 and "Say why the member is moved." in missing.content.decode()
    unknown = staff.post(url, {"code": "NOPE", "reason": "dispute"})
    assert unknown.status_code == 400 and "No distributor has this invite code." in unknown.content.decode()
    moved = staff.post(url, {"code": second.code.lower(), "reason": "ticket 42: shared in person"})
    assert moved.status_code == 302
    from distribution.models import Binding, BindingEvent

    with in_shop(alpha):
        assert Binding.objects.get(member=buyer).distributor_id == second.pk
        last = BindingEvent.objects.filter(member=buyer).last()
    assert last is not None and (last.source, last.evidence["reason"]) == ("merchant", "ticket 42: shared in person")
    assert "ticket 42" in staff.get(url).content.decode()
