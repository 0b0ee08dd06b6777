"""The reconciliation's findings reach the merchant and the operator: beat runs it every
night in every shop (one task per shop, ``platform_core.every_shop``), each shop's latest
run is kept with its findings; the merchant sees their own on the distribution overview
(and its API), and can run it now; the operator console lists the shops with findings,
worst first, and shows them."""

from __future__ import annotations

from typing import Any

import pytest

from tests import operators
from tests.conftest import english, in_shop, owner_client, platform_client
from tests.distribution import money
from tests.distribution.conftest import bound_buyer, configure, distributor

pytestmark = pytest.mark.django_db


def _broken(tenant: Any, deliver: Any) -> Any:
    """A paid order whose cup line is recorded refunded beyond what it paid."""
    from shop.payments.models import RefundLine

    configure(tenant, rate_level1_bp=1000, hold_days=0)
    cup, tea = money.skus(tenant, ("Cup", 1812), ("Tea", 2000))
    placed = money.confirm_offline(
        tenant, money.order(tenant, bound_buyer(tenant, distributor(tenant)), [(cup, 1), (tea, 1)]), deliver
    )
    money.order_page_refund(tenant, placed, "10.00", deliver)
    with in_shop(tenant):
        refund = placed.payments.get().refunds.get()
        RefundLine.objects.create(refund=refund, kind="goods", order_line=placed.lines.order_by("id")[0], amount=1812)
    return placed


def test_the_nightly_job_runs_in_every_shop_and_keeps_each_shops_findings(
    alpha: Any, beta: Any, deliver_events: Any, settings: Any
) -> None:
    from platform_core.models import ShopCheck
    from platform_core.tasks import every_shop

    entry = settings.CELERY_BEAT_SCHEDULE["distribution-verify"]
    assert (entry["task"], entry["args"]) == ("platform_core.every_shop", ["distribution.verify_shop"])
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({3}, {30})  # at night
    _broken(alpha, deliver_events)
    assert every_shop("distribution.verify_shop") >= 2
    found = {c.tenant.slug: c for c in ShopCheck.objects.select_related("tenant").filter(name="distribution_verify")}
    assert found["beta"].problems == 0 and found["beta"].findings == []
    assert found["alpha"].problems == 4
    assert {f["code"] for f in found["alpha"].findings} == {
        "commission_reversal",
        "line_over_refunded",
        "line_refunds_differ",
        "refund_parts_differ",
    }
    every_shop("distribution.verify_shop")  # again: still one record per shop
    assert ShopCheck.objects.filter(tenant__slug="alpha", name="distribution_verify").count() == 1


def test_the_merchant_sees_their_findings_and_runs_it_now(alpha: Any, beta: Any, deliver_events: Any) -> None:
    client = english(owner_client(alpha))
    page = client.get("/console/distribution/").content.decode()
    assert "Money reconciliation" in page and "Not checked yet." in page
    done = client.post("/console/distribution/reconcile/", follow=True).content.decode()
    assert "Reconciled to the fen: nothing found." in done
    _broken(alpha, deliver_events)
    done = client.post("/console/distribution/reconcile/", follow=True).content.decode()
    assert "The reconciliation found 4 problem(s)" in done
    assert 'id="reconciliation-banner"' in done
    assert "Refunded ¥22.87 of a line that was paid ¥18.12." in done  # 10.00 spread: 4.75 on the cup, + 18.12
    # the console API says the same; another shop sees its own record only
    data = owner_client(alpha).get("/api/v1/console/distribution/reconciliation/").json()
    assert data["problems"] == 4 and {f["code"] for f in data["findings"]} >= {"line_over_refunded"}
    other = owner_client(beta)
    assert other.get("/api/v1/console/distribution/reconciliation/").json()["checked_at"] is None
    assert other.post("/api/v1/console/distribution/reconciliation/").json()["problems"] == 0
    assert "Refunded ¥22.87" not in english(other).get("/console/distribution/").content.decode()


def test_the_operator_console_lists_shops_with_findings(alpha: Any, beta: Any, deliver_events: Any) -> None:
    from django.contrib.auth import get_user_model

    from platform_core.tasks import every_shop
    from tests.conftest import PASSWORD

    _broken(alpha, deliver_events)
    every_shop("distribution.verify_shop")
    operator = english(platform_client())
    operators.sign_in(operator, get_user_model().objects.create_superuser("op@fenxiao.test", PASSWORD))
    index = operator.get("/operator/").content.decode()
    assert "Shops with reconciliation findings" in index
    listing = operator.get("/operator/platform_core/shopcheck/?found=yes").content.decode()
    assert "alpha" in listing.lower() or "Alpha" in listing
    from platform_core.models import ShopCheck

    record = ShopCheck.objects.get(tenant__slug="alpha")
    detail = operator.get(f"/operator/platform_core/shopcheck/{record.pk}/change/").content.decode()
    assert "line_over_refunded" in detail and "Refunded ¥22.87 of a line that was paid ¥18.12." in detail
    assert operator.get("/operator/platform_core/shopcheck/add/").status_code == 403
