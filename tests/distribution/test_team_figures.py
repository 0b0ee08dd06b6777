"""Team figures as the distributor centre, grades and the console read them: team size and
sales by one range scan of the path index, sales kept with the commission lines (and
taken back with refunds), uplines' grades evaluated by the beat job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aftersales.conftest import buyer_and_client, line_ids
from tests.conftest import in_shop
from tests.distribution.conftest import chain, configure, distributor, lines_of, pay
from tests.distribution.test_ledger import _refund_via_aftersale

pytestmark = pytest.mark.django_db


def _recomputed(tenant: Any) -> dict[int, int]:
    from django.db.models import F, Sum

    from distribution.models import CommissionLine

    with in_shop(tenant):
        rows = (
            CommissionLine.objects.filter(level=1)
            .values("distributor_id")
            .annotate(total=Sum(F("base") - F("refunded_base")))
        )
        return {r["distributor_id"]: int(r["total"]) for r in rows}


def test_team_size_and_sales_follow_orders_and_refunds(beta: Any, deliver_events: Any) -> None:
    from distribution import services
    from distribution.models import BindingSource, Distributor

    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=500)
    root, middle, leaf = chain(beta, 3)
    other = distributor(beta, root)
    buyer, client = buyer_and_client(beta, "13800002222")
    with in_shop(beta):
        services.bind(buyer, leaf, source=BindingSource.LINK, evidence={}, actor="t")
    order = pay(beta, buyer, [(1000, 3)], deliver_events)  # leaf brought in 3000
    assert {line.distributor_id for line in lines_of(beta, order)} == {leaf.pk, middle.pk}
    with in_shop(beta):
        assert services.team_totals(Distributor.objects.get(pk=root.pk)) == {"size": 3, "sales": 3000}
        assert services.team_totals(Distributor.objects.get(pk=middle.pk)) == {"size": 1, "sales": 3000}
        assert services.team_totals(Distributor.objects.get(pk=leaf.pk)) == {"size": 0, "sales": 0}
        assert services.team_levels(Distributor.objects.get(pk=root.pk), 3) == {1: (2, 0), 2: (1, 3000)}
        assert services.team_sizes(Distributor.objects.get(pk=other.pk)) == {}
    (order_line,) = line_ids(beta, order)
    _refund_via_aftersale(beta, client, order, [(order_line, 1)], deliver_events)
    with in_shop(beta):
        assert services.team_totals(Distributor.objects.get(pk=root.pk))["sales"] == 2000
        kept = dict(Distributor.objects.values_list("id", "own_sales"))
    recomputed = _recomputed(beta)
    assert all(kept[d] == recomputed.get(d, 0) for d in kept)  # never drifts from the lines


def test_uplines_are_upgraded_by_the_beat_job(beta: Any, deliver_events: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from distribution import grades, services
    from distribution.models import BindingSource, Distributor, Grade

    configure(beta, levels=1, rate_level1_bp=1000)
    top, below = chain(beta, 2)
    with in_shop(beta):
        gold = Grade.objects.create(name="Gold", rank=1, min_team_sales=1000)
    buyer, _client = buyer_and_client(beta, "13800003333")
    with in_shop(beta):
        services.bind(buyer, below, source=BindingSource.LINK, evidence={}, actor="t")
    pay(beta, buyer, [(2000, 1)], deliver_events)
    with in_shop(beta):
        assert Distributor.objects.get(pk=top.pk).grade_id is None  # not on the order's path
        grades.evaluate_recent(beta, timezone.now() - timedelta(minutes=20))
        assert Distributor.objects.get(pk=top.pk).grade_id == gold.pk
