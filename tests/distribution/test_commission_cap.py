"""The commission cap: a shop setting for the most all levels of a line may earn together,
as a share of what the buyer paid for it (fixed per-unit overrides could otherwise take
it all: a 77-fen SKU paid 50 + 27). The excess comes off the highest level first; the
line keeps the cap and what the rule gave, and its explanation says so — in the
distributor centre and in the console."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import english, in_shop, owner_client
from tests.distribution.conftest import bound_buyer, configure, distributor, lines_of, pay, sound

pytestmark = pytest.mark.django_db


def _fixed_77(beta: Any, deliver: Any, cap: int | None) -> tuple[Any, Any, Any]:
    from tests.orders.conftest import product

    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=500, hold_days=0)
    top = distributor(beta)
    mid = distributor(beta, top)
    sku = product(beta, price=77, stock=10, name="Sticker")
    with in_shop(beta):
        pid = sku.product_id
    configure(
        beta,
        overrides=[
            {"scope": "product", "target": pid, "level": 1, "mode": "fixed", "amount": 50},
            {"scope": "product", "target": pid, "level": 2, "mode": "fixed", "amount": 27},
        ],
        **({"commission_cap_bp": cap} if cap is not None else {}),
    )
    from shop.orders import services
    from shop.payments import services as payments

    buyer = bound_buyer(beta, mid)
    with in_shop(beta), deliver():
        order = services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")
    return top, mid, order


def test_without_a_cap_fixed_amounts_can_take_the_whole_price(beta: Any, deliver_events: Any) -> None:
    _top, _mid, order = _fixed_77(beta, deliver_events, None)
    assert [(line.level, line.amount, line.capped_from) for line in lines_of(beta, order)] == [
        (1, 50, None),
        (2, 27, None),
    ]


def test_the_cap_cuts_the_highest_level_first_and_the_line_says_so(beta: Any, deliver_events: Any) -> None:
    from distribution import selectors

    top, mid, order = _fixed_77(beta, deliver_events, 3000)  # at most 30% of 77 = 23 fen in all
    lines = lines_of(beta, order)
    assert [(line.level, line.amount, line.capped_from, line.cap_bp) for line in lines] == [(1, 23, 50, 3000)]
    with english_language():
        why = selectors.line_explanation(lines[0])
    assert why == (
        "Level 1 · ¥0.50 × 1 · Product rate · "
        "capped: all levels together earn at most 30% of the paid amount (the rule gave ¥0.50)"
    )
    assert lines[0].explanation()["capped_from"] == 50
    from tests.distribution import money

    assert money.findings(beta) == []
    sound(beta)
    # the distributor centre (JSON) and the console's commission lines say it too
    from tests.orders.conftest import member_client

    app = member_client(beta, mid.member)
    app.cookies["django_language"] = "en"
    centre = app.get("/api/v1/distribution/centre/").json()
    assert "capped" in centre["lines"][0]["explanation"]
    page = english(owner_client(beta)).get("/console/distribution/commissions/").content.decode()
    assert "capped: all levels together earn at most 30% of the paid amount" in page


def test_a_percent_rate_under_the_cap_is_untouched(beta: Any, deliver_events: Any) -> None:
    configure(beta, levels=1, rate_level1_bp=1000, commission_cap_bp=2000, hold_days=0)
    sharer = distributor(beta)
    order = pay(beta, bound_buyer(beta, sharer), [(10_000, 1)], deliver_events)
    assert [(line.amount, line.capped_from) for line in lines_of(beta, order)] == [(1000, None)]


def test_the_cap_is_a_setting_with_field_errors(beta: Any) -> None:
    from django.core.exceptions import ValidationError

    from distribution.models import DistributionSettings

    for wrong in (0, 10_001, "x", None):
        with pytest.raises(ValidationError) as caught:
            configure(beta, commission_cap_bp=wrong)
        assert list(caught.value.message_dict) == ["commission_cap_bp"]
    client = english(owner_client(beta))
    page = client.get("/console/distribution/settings/").content.decode()
    assert 'name="commission_cap_bp" value="100.00"' in page
    form = _form(client)
    bad = client.post("/console/distribution/settings/", {**form, "commission_cap_bp": "abc"})
    assert bad.status_code == 400
    assert "Enter a percentage like 10 or 12.5." in bad.content.decode()
    over = client.post("/console/distribution/settings/", {**form, "commission_cap_bp": "150"})
    assert over.status_code == 400 and "Enter a percentage from 0.01 to 100." in over.content.decode()
    with in_shop(beta):
        assert DistributionSettings.current().commission_cap_bp == 10_000  # nothing saved
    assert client.post("/console/distribution/settings/", {**form, "commission_cap_bp": "35"}).status_code == 302
    with in_shop(beta):
        assert DistributionSettings.current().commission_cap_bp == 3500


def _form(client: Any) -> dict[str, Any]:
    """The settings form as the page fills it."""
    import re

    html = client.get("/console/distribution/settings/").content.decode()
    form: dict[str, Any] = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        form[name] = value
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        form[name] = body
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', options)
        first = re.search(r'<option value="([^"]*)"', options)
        form[name] = (chosen or first).group(1) if (chosen or first) else ""  # type: ignore[union-attr]
    form.pop("csrfmiddlewaretoken", None)
    form["withdrawal_methods"] = ["shop_balance"]
    form["enabled"] = "on"
    return form


def english_language() -> Any:
    from django.utils import translation

    return translation.override("en")
