"""Cross-shop access on every marketing endpoint: the URL walk of tests/test_isolation.py
restricted to marketing routes (one shop's object is reachable there and a 404 on the
other shop, for every method), and the lists never show another shop's rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import owner_client
from tests.isolation_objects import owned_for
from tests.marketing.helpers import coupon_template, discount, give_coupon, reduction
from tests.orders.conftest import member, member_client, product
from tests.test_isolation import _fill, tenant_patterns

pytestmark = pytest.mark.django_db


def test_every_marketing_route_with_an_id_is_walked_and_foreign_ids_give_404(alpha: Any, beta: Any) -> None:
    routes = [r for r, _p in tenant_patterns() if "marketing" in r and "pk>" in r]
    assert len(routes) >= 12
    checked = 0
    for route in routes:
        owned = owned_for(route)
        assert owned is not None, route
        pk = owned.make(beta)
        while owned.exists(alpha, pk):
            pk = owned.make(beta)
        url = _fill(route, pk)
        for method in ("get", "post", "put", "patch", "delete"):
            own = getattr(owned.login(beta), method)(url, content_type="application/json")
            if own.status_code == 405:
                continue
            assert own.status_code != 404, f"{method.upper()} {url} should reach beta's own object"
            if method == "delete" and own.status_code < 300:
                pk = owned.make(beta)
                url = _fill(route, pk)
            foreign = getattr(owned.login(alpha), method)(url, content_type="application/json")
            assert foreign.status_code == 404, f"{method.upper()} {url} on alpha answered {foreign.status_code}"
            checked += 1
    assert checked >= len(routes)


def test_lists_show_only_the_shops_own_rows(alpha: Any, beta: Any) -> None:
    tea = product(beta)
    template = coupon_template(beta, name="beta only")
    someone = member(beta, "13800138111")
    give_coupon(beta, template, someone)
    discount(beta, [{"product": tea.product_id, "percent_off": 10}])
    reduction(beta, [{"threshold": 100, "value": 10}])
    staff = owner_client(alpha)
    for path in ("coupons", "discounts", "reductions"):
        assert staff.get(f"/api/v1/console/marketing/{path}/").json()["results"] == []
    shopper = member_client(alpha, member(alpha, "13800138112"))
    assert shopper.get("/api/v1/marketing/coupons/").json() == []
    assert shopper.get("/api/v1/marketing/my-coupons/").json()["results"] == []


def test_flash_and_group_lists_show_only_the_shops_own_rows(alpha: Any, beta: Any) -> None:
    from platform_core.models import FeatureOverride
    from tests.marketing.helpers import flash_session, group_deal

    for key in ("flash_sales", "group_buying"):
        FeatureOverride.objects.create(tenant=alpha, key=key, value=True, reason="test")
    tea = product(beta, price=10000, stock=20)
    cup = product(beta, price=10000, stock=20, name="Cup")
    flash_session(beta, [{"sku": tea.pk, "price": 100, "stock": 1}])
    group_deal(beta, [{"sku": cup.pk, "price": 100}])
    staff = owner_client(alpha)
    assert staff.get("/api/v1/console/marketing/flash-sales/").json()["results"] == []
    assert staff.get("/api/v1/console/marketing/group-deals/").json()["results"] == []
    shopper = member_client(alpha, member(alpha, "13800138113"))
    listing = shopper.get("/api/v1/marketing/flash-sales/").json()
    assert (listing["current"], listing["next"]) == ([], [])
    assert shopper.get("/api/v1/marketing/group-deals/").json() == []
    assert shopper.get("/api/v1/marketing/my-groups/").json() == []
