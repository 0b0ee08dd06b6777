"""Automatic grade upgrades (feature ``distributor_grades``).

A distributor moves up to the highest grade whose every rule they meet; grades are never
lowered automatically (the merchant may). The figures, net of refunds:

* own sales — what buyers paid for the goods of order lines that earned this distributor
  level-1 commission (their direct buyers, and their own purchases with self-purchase on);
* team sales — the same over the distributor and their whole downline (one ltree query);
* direct invitees — distributors whose parent they are.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from distribution.models import Distributor, Grade
from platform_core.features import has_feature


def figures(distributor: Distributor) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(c.base - c.refunded_base) FILTER (WHERE c.distributor_id = %s), 0), "
            "coalesce(sum(c.base - c.refunded_base), 0) "
            "FROM distribution_commissionline c JOIN distribution_distributor d ON d.id = c.distributor_id "
            "WHERE c.level = 1 AND d.path <@ %s::ltree",
            [distributor.pk, distributor.path],
        )
        own, team = cursor.fetchone() or (0, 0)
    invitees = Distributor.objects.filter(parent=distributor).count()
    return {"own_sales": int(own), "team_sales": int(team), "direct_invitees": invitees}


def grade_evaluate(tenant: Any, distributor_ids: list[int]) -> list[int]:
    """Upgrade the given distributors (and nothing else) where their figures allow.
    Returns the ids upgraded."""
    if tenant is None or not has_feature(tenant, "distributor_grades"):
        return []
    grades = list(Grade.objects.order_by("-rank"))
    if not grades:
        return []
    upgraded = []
    for distributor in Distributor.objects.select_related("grade").filter(
        pk__in=distributor_ids, status=Distributor.Status.ACTIVE
    ):
        if not distributor.path:
            continue
        found = figures(distributor)
        current = distributor.grade.rank if distributor.grade else 0
        for grade in grades:
            if grade.rank <= current:
                break
            if (
                found["own_sales"] >= grade.min_own_sales
                and found["team_sales"] >= grade.min_team_sales
                and found["direct_invitees"] >= grade.min_direct_invitees
            ):
                with transaction.atomic():
                    # only up, and only if nobody changed it meanwhile
                    changed = Distributor.objects.filter(pk=distributor.pk, grade=distributor.grade).update(grade=grade)
                if changed:
                    upgraded.append(distributor.pk)
                break
    return upgraded
