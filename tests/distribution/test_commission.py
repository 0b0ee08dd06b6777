"""Commission when an order is paid: per line × level, on what the buyer paid, rounded
down, with the rule that produced it; overrides precedence; self-purchase; the level cap;
idempotence; a constant number of queries whatever the tree's depth."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import in_shop
from tests.distribution.conftest import (
    balances,
    bound_buyer,
    chain,
    configure,
    distributor,
    lines_of,
    pay,
    sound,
)

pytestmark = pytest.mark.django_db


def test_two_levels_on_paid_amount_rounded_down_with_the_rule(beta: Any, deliver_events: Any) -> None:
    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=333)
    root, child = chain(beta, 2)
    buyer = bound_buyer(beta, child)
    order = pay(beta, buyer, [(999, 1)], deliver_events)  # 9.99
    first, second = lines_of(beta, order)
    assert (first.distributor_id, first.level, first.amount) == (child.pk, 1, 99)  # 99.9 → 99
    assert (second.distributor_id, second.level, second.amount) == (root.pk, 2, 33)  # 33.2667 → 33
    assert first.explanation() | {"source_label": ""} == {
        "source": "default",
        "source_label": "",
        "level": 1,
        "self_purchase": False,
        "base": 999,
        "rate_bp": 1000,
        "fixed_amount": None,
        "quantity": 1,
        "grade": "",
        "cap_bp": 10_000,
        "capped_from": None,
    }
    assert balances(beta, child)["pending"] == 99
    assert balances(beta, root)["pending"] == 33
    sound(beta)


def test_a_standard_shop_pays_one_level_only(alpha: Any, deliver_events: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        configure(alpha, levels=2)
    assert "levels" in caught.value.message_dict
    configure(alpha, levels=1, rate_level1_bp=1000)
    _root, child = chain(alpha, 2)
    order = pay(alpha, bound_buyer(alpha, child), [(1000, 2)], deliver_events)
    assert [(line.distributor_id, line.level, line.amount) for line in lines_of(alpha, order)] == [(child.pk, 1, 200)]


def test_three_levels_only_with_an_operator_override(beta: Any, deliver_events: Any) -> None:
    from django.core.exceptions import ValidationError

    from platform_core.features import forget_overrides

    with pytest.raises(ValidationError):
        configure(beta, levels=3)
    beta.feature_overrides.create(key="distribution_levels", value=3)
    forget_overrides(beta)
    configure(beta, levels=3, rate_level1_bp=1000, rate_level2_bp=500, rate_level3_bp=200)
    top, mid, low, bottom = chain(beta, 4)
    order = pay(beta, bound_buyer(beta, bottom), [(10_000, 1)], deliver_events)
    assert [(line.distributor_id, line.level, line.amount) for line in lines_of(beta, order)] == [
        (bottom.pk, 1, 1000),
        (low.pk, 2, 500),
        (mid.pk, 3, 200),
    ]
    # the override removed, the shop's setting stays but the plan pays 2 levels again
    beta.feature_overrides.all().delete()
    forget_overrides(beta)
    again = pay(beta, bound_buyer(beta, bottom), [(10_000, 1)], deliver_events)
    assert [line.level for line in lines_of(beta, again)] == [1, 2]
    del top


def test_overrides_take_precedence_sku_product_category_grade_default(beta: Any, deliver_events: Any) -> None:
    from distribution import services
    from distribution.models import Grade
    from shop.catalogue import services as catalogue
    from shop.catalogue.models import Product
    from tests.orders.conftest import product

    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=100)
    root, child = chain(beta, 2)
    buyer = bound_buyer(beta, child)
    skus = [product(beta, price=10_000, name=f"Override {n}") for n in range(6)]
    products = [sku.product_id for sku in skus]
    with in_shop(beta):
        category = catalogue.category_save(name="分销类")
        Product.objects.filter(pk__in=products[:4]).update(category=category)
    configure(
        beta,
        grades=[{"name": "金牌", "rank": 1, "rates_bp": [1500, None]}],
        overrides=[
            # sku 0: the SKU's rate beats its product's and its category's
            {"scope": "sku", "target": skus[0].pk, "level": 1, "mode": "percent", "rate_bp": 2000},
            {"scope": "product", "target": products[0], "level": 1, "mode": "percent", "rate_bp": 1800},
            # sku 1: the product's beats the category's
            {"scope": "product", "target": products[1], "level": 1, "mode": "percent", "rate_bp": 1800},
            # skus 0-3: the category
            {"scope": "category", "target": category.pk, "level": 1, "mode": "percent", "rate_bp": 1200},
            # sku 4: a fixed amount × quantity
            {"scope": "sku", "target": skus[4].pk, "level": 1, "mode": "fixed", "amount": 250},
        ],
    )
    with in_shop(beta):
        services.distributor_set_grade(beta, child, Grade.objects.get().pk)
    order = order_of(
        beta, buyer, [(skus[0], 1), (skus[1], 1), (skus[2], 1), (skus[4], 2), (skus[5], 1)], deliver_events
    )
    got = [
        (line.level, line.rate_source, line.rate_bp, line.fixed_amount, line.amount) for line in lines_of(beta, order)
    ]
    assert got == [
        (1, "sku", 2000, None, 2000),
        (2, "default", 100, None, 100),
        (1, "product", 1800, None, 1800),
        (2, "default", 100, None, 100),
        (1, "category", 1200, None, 1200),
        (2, "default", 100, None, 100),
        (1, "sku", None, 250, 500),
        (2, "default", 100, None, 200),
        # no override: the grade's own level-1 rate; its level 2 is unset, so the default
        (1, "grade", 1500, None, 1500),
        (2, "default", 100, None, 100),
    ]
    assert {line.grade_name for line in lines_of(beta, order) if line.level == 1} == {"金牌"}
    assert {line.distributor_id for line in lines_of(beta, order) if line.level == 2} == {root.pk}
    sound(beta)


def order_of(tenant: Any, buyer: Any, items: list[tuple[Any, int]], deliver_events: Any) -> Any:
    from shop.orders import services as orders
    from shop.payments import services as payments

    with in_shop(tenant):
        order = orders.order_create(
            buyer,
            items=[(sku.pk, quantity, None) for sku, quantity in items],
            fulfilment="delivery",
            address_id=buyer.addresses.get().pk,
        )
    with deliver_events(), in_shop(tenant):
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")
    return order


def test_self_purchase_on_and_off(beta: Any, deliver_events: Any) -> None:
    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=500, self_purchase=False)
    root, child = chain(beta, 2)
    order = pay(beta, child.member, [(1000, 1)], deliver_events)
    # off: the buyer's parent is level 1
    assert [(line.distributor_id, line.level, line.self_purchase) for line in lines_of(beta, order)] == [
        (root.pk, 1, False)
    ]
    configure(beta, self_purchase=True)
    again = pay(beta, child.member, [(1000, 1)], deliver_events)
    assert [(line.distributor_id, line.level, line.self_purchase) for line in lines_of(beta, again)] == [
        (child.pk, 1, True),
        (root.pk, 2, False),
    ]


def test_frozen_upline_earns_nothing_and_the_level_is_not_passed_up(beta: Any, deliver_events: Any) -> None:
    from distribution import services

    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=500)
    root, child = chain(beta, 2)
    with in_shop(beta):
        services.distributor_action(child, "freeze")
    buyer = bound_buyer(beta, root)  # (a frozen distributor takes no new buyers)
    with in_shop(beta):
        from distribution.models import Binding

        Binding.objects.filter(member=buyer).update(distributor=child)
    order = pay(beta, buyer, [(1000, 1)], deliver_events)
    assert [(line.distributor_id, line.level) for line in lines_of(beta, order)] == [(root.pk, 2)]


def test_a_second_delivery_of_the_event_adds_nothing(beta: Any, deliver_events: Any) -> None:
    from distribution import commission

    configure(beta, levels=2)
    _root, child = chain(beta, 2)
    order = pay(beta, bound_buyer(beta, child), [(1000, 3)], deliver_events)
    before = [(line.pk, line.amount) for line in lines_of(beta, order)]
    with in_shop(beta):
        assert commission.commission_for_order(beta, order) == []
    assert [(line.pk, line.amount) for line in lines_of(beta, order)] == before
    assert balances(beta, child)["pending"] == 300
    sound(beta)


def test_no_binding_no_commission_and_disabled_shop_pays_nothing(beta: Any, deliver_events: Any) -> None:
    from tests.orders.conftest import member

    configure(beta, levels=2)
    lonely = pay(beta, member(beta, "13912340000"), [(1000, 1)], deliver_events)
    assert lines_of(beta, lonely) == []
    d = distributor(beta)
    configure(beta, enabled=False)
    off = pay(beta, bound_buyer(beta, d), [(1000, 1)], deliver_events)
    assert lines_of(beta, off) == []


def _queries(tenant: Any, depth: int, deliver_events: Any) -> int:
    from distribution import commission
    from distribution.models import CommissionLine

    made = chain(tenant, depth)
    buyer = bound_buyer(tenant, made[-1])
    order = pay(tenant, buyer, [(1000, 1), (2000, 2)], deliver_events)
    with in_shop(tenant):
        from distribution.models import LedgerEntry, LedgerTransaction

        LedgerEntry.objects.filter(transaction__commission_line__order=order).delete()
        LedgerTransaction.objects.filter(commission_line__order=order).delete()
        CommissionLine.objects.filter(order=order).delete()
        from distribution.models import OrderCommission

        OrderCommission.objects.filter(order=order).delete()
        from distribution.models import LedgerAccount

        LedgerAccount.objects.update(balance=0)
        with CaptureQueriesContext(connection) as ctx:
            assert commission.commission_for_order(tenant, order)
    return len(ctx.captured_queries)


def test_commission_costs_a_constant_number_of_queries_whatever_the_depth(beta: Any, deliver_events: Any) -> None:
    configure(beta, levels=2)
    assert _queries(beta, 2, deliver_events) == _queries(beta, 12, deliver_events)


def test_grades_upgrade_automatically_on_own_and_team_sales(beta: Any, deliver_events: Any) -> None:
    from distribution.models import Distributor

    configure(
        beta,
        levels=2,
        rate_level1_bp=1000,
        rate_level2_bp=100,
        grades=[
            {"name": "银牌", "rank": 1, "min_own_sales": 5_000},
            {"name": "金牌", "rank": 2, "min_own_sales": 5_000, "min_team_sales": 20_000, "min_direct_invitees": 1},
        ],
    )
    root, child = chain(beta, 2)
    pay(beta, bound_buyer(beta, root), [(6_000, 1)], deliver_events)  # root: own 6,000
    with in_shop(beta):
        assert Distributor.objects.get(pk=root.pk).grade.name == "银牌"  # type: ignore[union-attr]
        assert Distributor.objects.get(pk=child.pk).grade is None
    pay(beta, bound_buyer(beta, child), [(15_000, 1)], deliver_events)  # root's team: 21,000
    with in_shop(beta):
        assert Distributor.objects.get(pk=root.pk).grade.name == "金牌"  # type: ignore[union-attr]
        assert Distributor.objects.get(pk=child.pk).grade.name == "银牌"  # type: ignore[union-attr]


def test_a_standard_shop_has_no_grades(alpha: Any, deliver_events: Any) -> None:
    from distribution import grades

    configure(alpha)
    d = distributor(alpha)
    with in_shop(alpha):
        assert grades.grade_evaluate(alpha, [d.pk]) == []


def test_distributor_centre_shows_lines_with_explanation_orders_and_team(beta: Any, deliver_events: Any) -> None:
    from tests.orders.conftest import member_client

    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=500)
    root, child = chain(beta, 2)
    order = pay(beta, bound_buyer(beta, child), [(2_000, 1)], deliver_events)
    client = member_client(beta, root.member)
    lines = client.get("/api/v1/distribution/commissions/").json()["results"]
    assert [
        (x["order"], x["level"], x["amount"], x["explanation"]["rate_bp"], x["explanation"]["base"]) for x in lines
    ] == [(order.pk, 2, 100, 500, 2_000)]
    orders = client.get("/api/v1/distribution/orders/").json()["results"]
    assert [(x["number"], x["commission"], x["net"]) for x in orders] == [(order.number, 100, 100)]
    team = client.get("/api/v1/distribution/team/").json()
    assert team["levels"] == {"1": 1} and team["direct"] == 1 and team["team_sales"] == 2_000
    centre = client.get("/api/v1/distribution/me/").json()
    assert centre["earnings"]["pending"] == 100 and centre["distributor"]["code"] == root.code


def test_a_lost_order_paid_event_is_caught_up_by_the_beat(beta: Any, deliver_events: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from distribution import commission
    from tests.aftersales.conftest import paid_order

    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=500)
    _root, child = chain(beta, 2)
    lost = paid_order(beta, bound_buyer(beta, child), [(1000, 1)])  # its events never delivered
    assert lines_of(beta, lost) == []
    later = timezone.now() + timedelta(minutes=10)
    with in_shop(beta):
        assert commission.commission_catch_up(beta, later) == 1
        assert commission.commission_catch_up(beta, later) == 0  # decided once
    assert [(line.level, line.amount) for line in lines_of(beta, lost)] == [(1, 100), (2, 50)]
    sound(beta)


def test_commission_preview_on_product_pages_for_whom_the_shop_chose(beta: Any) -> None:
    from tests.conftest import shop_client
    from tests.orders.conftest import member_client, product

    configure(beta, levels=2, rate_level1_bp=1000, preview_audience="distributors")
    sku = product(beta, price=12_345, name="Preview")
    url = f"/api/v1/distribution/preview/{sku.product_id}/"
    assert shop_client(beta).get(url).json() == {"shown": False, "skus": []}
    sharer = distributor(beta)
    mine = member_client(beta, sharer.member).get(url).json()
    assert mine["shown"] is True
    assert mine["skus"] == [{"sku": sku.pk, "price": 12_345, "commission": 1234, "source": "default"}]
    configure(
        beta,
        preview_audience="everyone",
        overrides=[{"scope": "sku", "target": sku.pk, "level": 1, "mode": "fixed", "amount": 500}],
    )
    everyone = shop_client(beta).get(url).json()
    assert everyone["skus"][0]["commission"] == 500 and everyone["skus"][0]["source"] == "sku"
    configure(beta, preview_audience="nobody")
    assert member_client(beta, sharer.member).get(url).json()["shown"] is False
