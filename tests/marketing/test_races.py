"""Races, run deterministically: the competing request runs exactly while the first holds
its rows, and the first commits only once the second is waiting on them.

* two members take the last coupon at once: exactly one gets it;
* one member claims the same coupon twice at once (limit 1): exactly one claim;
* one member places two orders at once at a limited-time price (limit per member): the
  second is priced knowing the first, never both at the activity price."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections

from shop.marketing import services
from tenants.services import shop_signup
from tests.conftest import PASSWORD, in_shop
from tests.marketing.helpers import coupon_template, discount
from tests.orders.conftest import member, product


def _wait_for_a_lock_waiter() -> None:
    deadline = time.time() + 10
    while time.time() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= 1:
                return
        time.sleep(0.02)
    raise AssertionError("the second request never waited for the first one's rows")


def _race(
    monkeypatch: Any, target: Any, name: str, first: Callable[[], Any], second: Callable[[], Any]
) -> dict[str, Any]:
    """Run ``first`` until it has passed ``target.name`` (holding its transaction open),
    then ``second``, which must wait on a lock; then let ``first`` commit."""
    reached, release = threading.Event(), threading.Event()
    real = getattr(target, name)

    def hold(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if threading.current_thread().name == "first":
            reached.set()
            release.wait(10)
        return result

    monkeypatch.setattr(target, name, hold)
    outcomes: dict[str, Any] = {}

    def run(label: str, work: Callable[[], Any]) -> None:
        try:
            outcomes[label] = work()
        except ValidationError as exc:
            outcomes[label] = exc
        finally:
            connections.close_all()

    a = threading.Thread(target=run, args=("first", first), name="first")
    a.start()
    assert reached.wait(10)
    b = threading.Thread(target=run, args=("second", second), name="second")
    b.start()
    _wait_for_a_lock_waiter()
    release.set()
    a.join(10)
    b.join(10)
    return outcomes


def _shop(live_db: list[str], slug: str) -> Any:
    live_db.append(slug)
    return shop_signup(name="Race", slug=slug, email=f"{slug}@shop.test", password=PASSWORD, tier="pro").tenant


def test_two_members_take_the_last_coupon(live_db: list[str], monkeypatch: Any) -> None:
    tenant = _shop(live_db, "coupon-race")
    template = coupon_template(tenant, total_quantity=1)
    ann, bob = member(tenant, "13800000011"), member(tenant, "13800000012")

    def claim(who: Any) -> Callable[[], Any]:
        def work() -> Any:
            with in_shop(tenant):
                return services.coupon_claim(who, template.pk)

        return work

    outcomes = _race(monkeypatch, services, "_count_member", claim(ann), claim(bob))
    assert not isinstance(outcomes["first"], Exception)
    assert isinstance(outcomes["second"], ValidationError)
    assert any(word in str(outcomes["second"]) for word in ("gone", "领完"))  # en or zh-hans
    from shop.marketing.models import CouponTemplate, MemberCoupon

    with in_shop(tenant):
        assert CouponTemplate.objects.get(pk=template.pk).issued == 1
        assert list(MemberCoupon.objects.values_list("member_id", flat=True)) == [ann.pk]


def test_one_member_claims_twice_at_once(live_db: list[str], monkeypatch: Any) -> None:
    tenant = _shop(live_db, "claim-twice")
    template = coupon_template(tenant, total_quantity=10, per_member_limit=1)
    ann = member(tenant, "13800000021")

    def claim() -> Any:
        with in_shop(tenant):
            return services.coupon_claim(ann, template.pk)

    outcomes = _race(monkeypatch, services, "_count_member", claim, claim)
    assert not isinstance(outcomes["first"], Exception)
    assert isinstance(outcomes["second"], ValidationError)
    from shop.marketing.models import CouponClaim, CouponTemplate, MemberCoupon

    with in_shop(tenant):
        assert MemberCoupon.objects.filter(member=ann).count() == 1
        assert CouponTemplate.objects.get(pk=template.pk).issued == 1  # the refused claim left nothing
        assert CouponClaim.objects.get(member=ann).count == 1


def test_two_orders_at_once_never_both_get_the_limited_price(live_db: list[str], monkeypatch: Any) -> None:
    from shop.orders import services as orders

    tenant = _shop(live_db, "limit-race")
    tea = product(tenant, price=10000, stock=10)
    discount(tenant, [{"product": tea.product_id, "percent_off": 50}], per_member_limit=2)
    ann = member(tenant, "13800000031")
    with in_shop(tenant):
        address = ann.addresses.get().pk

    def buy() -> Any:
        with in_shop(tenant):
            order = orders.order_create(ann, items=[(tea.pk, 2, None)], fulfilment="delivery", address_id=address)
            return order.lines.get().activity_discount

    outcomes = _race(monkeypatch, services, "order_placed", buy, buy)
    assert outcomes == {"first": 10000, "second": 0}
