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

from django.db import transaction

from distribution.models import Distributor, Grade
from platform_core.features import has_feature


def figures(distributor: Distributor) -> dict[str, int]:
    """Own sales, team sales (own included, as upgrade rules count them) and direct
    invitees: the kept ``own_sales`` and one index-only range scan of the team."""
    from distribution.services import team_totals

    distributor.refresh_from_db(fields=["own_sales"])
    team = team_totals(distributor)["sales"] if distributor.path else 0
    invitees = Distributor.objects.filter(parent=distributor).count()
    own = int(distributor.own_sales)
    return {"own_sales": own, "team_sales": own + team, "direct_invitees": invitees}


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


def evaluate_recent(tenant: Any, since: Any) -> list[int]:
    """Upgrade the uplines of every distributor who earned since ``since`` (their team
    sales grew): the beat job's half of grade evaluation."""
    from distribution.models import CommissionLine

    earners = set(
        CommissionLine.objects.filter(created_at__gte=since).values_list("distributor_id", flat=True).distinct()
    )
    if not earners:
        return []
    paths = Distributor.objects.filter(pk__in=earners).values_list("path", flat=True)
    ids = sorted({int(label) for path in paths if path for label in path.split(".")} - earners)
    upgraded: list[int] = []
    for start in range(0, len(ids), 500):
        upgraded += grade_evaluate(tenant, ids[start : start + 500])
    return upgraded
