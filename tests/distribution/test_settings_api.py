"""The distribution settings: console API and page, every knob validated with field-level
errors and nothing written on bad input, gated by the shop's plan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import english, in_shop, owner_client, shop_client
from tests.orders.conftest import member, member_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/console/distribution/settings/"


def _put(client: Any, data: Any) -> Any:
    return client.put(URL, data=json.dumps(data), content_type="application/json")


def test_owner_reads_and_changes_every_knob(beta: Any) -> None:
    client = owner_client(beta)
    data = {
        "enabled": True,
        "qualification": "after_spending",
        "spending_threshold": 50_000,
        "application_fields": [{"name": "wechat", "label": "微信号", "required": True}],
        "agreement_text": "协议",
        "binding_trigger": "registration",
        "binding_days": 90,
        "attribution": "last_touch",
        "levels": 2,
        "self_purchase": True,
        "rate_level1_bp": 1200,
        "rate_level2_bp": 300,
        "team_dividend_enabled": True,
        "hold_days": 10,
        "settlement_mode": "monthly",
        "settlement_day": 15,
        "withdrawal_minimum": 1000,
        "withdrawal_fee_bp": 60,
        "withdrawal_daily_cap": 500_000,
        "withdrawal_methods": ["bank", "shop_balance"],
        "withdrawal_review": False,
        "distributor_word": "推广大使",
        "commission_word": "奖励金",
        "grades": [{"name": "金牌", "rank": 2, "rates_bp": [1500, 400], "min_own_sales": 100_000, "dividend_bp": 100}],
    }
    response = _put(client, data)
    assert response.status_code == 200, response.content
    got = client.get(URL).json()
    for key, value in data.items():
        if key == "grades":
            assert got["grades"][0]["rates_bp"] == [1500, 400, None]
        elif key == "withdrawal_methods":
            assert got[key] == ["shop_balance", "bank"]
        else:
            assert got[key] == value, key
    assert got["distributor_label"] == "推广大使" and got["max_levels"] == 2


def test_bad_input_is_400_per_field_and_nothing_is_written(beta: Any) -> None:
    from distribution.models import DistributionSettings, Grade

    client = english(owner_client(beta))
    before = client.get(URL).json()
    response = _put(
        client,
        {
            "enabled": "yes",
            "qualification": "pay_to_join",
            "levels": 4,
            "rate_level1_bp": 10_001,
            "hold_days": -1,
            "settlement_day": 31,
            "withdrawal_methods": ["cash"],
            "binding_days": 0,
            "distributor_word": "x" * 21,
            "application_fields": [{"name": "1 bad", "label": ""}],
            "overrides": [{"scope": "sku", "target": 999_999, "level": 1, "mode": "percent", "rate_bp": 100}],
            "grades": [{"name": "", "rank": 1}],
            "nonsense": 1,
        },
    )
    assert response.status_code == 400
    assert set(response.json()) == {
        "enabled",
        "qualification",
        "levels",
        "rate_level1_bp",
        "hold_days",
        "settlement_day",
        "withdrawal_methods",
        "binding_days",
        "distributor_word",
        "application_fields",
        "overrides",
        "grades",
        "nonsense",
    }
    # one good field among bad ones is not saved either
    assert _put(client, {"hold_days": 3, "levels": 9}).status_code == 400
    assert client.get(URL).json() == before
    with in_shop(beta):
        assert not Grade.objects.exists()
        assert DistributionSettings.current().hold_days == before["hold_days"]
    # rates of all levels together above 100%
    too_much = _put(client, {"levels": 2, "rate_level1_bp": 9000, "rate_level2_bp": 2000})
    assert too_much.status_code == 400 and "rate_level1_bp" in too_much.json()
    # not a JSON object
    assert client.put(URL, data="[1]", content_type="application/json").status_code == 400


def test_the_plan_gates_levels_grades_and_dividends(alpha: Any) -> None:
    client = english(owner_client(alpha))  # standard: 1 level, no grades, no dividends
    response = _put(client, {"levels": 2, "team_dividend_enabled": True, "grades": [{"name": "A", "rank": 1}]})
    assert response.status_code == 400
    assert set(response.json()) == {"levels", "team_dividend_enabled", "grades"}
    assert _put(client, {"levels": 1, "enabled": True}).status_code == 200


def test_only_console_staff_see_the_settings(alpha: Any) -> None:
    assert shop_client(alpha).get(URL).status_code in (401, 403)
    buyer = member(alpha, "13811112222")
    assert member_client(alpha, buyer).get(URL).status_code in (401, 403)
    assert _put(member_client(alpha, buyer), {"enabled": True}).status_code in (401, 403)


def test_console_page_saves_and_shows_errors(beta: Any) -> None:
    from distribution.models import DistributionSettings

    client = english(owner_client(beta))
    page = client.get("/console/distribution/settings/")
    assert page.status_code == 200 and b"rate_level1_bp" in page.content
    form = {
        "enabled": "on",
        "qualification": "apply_review",
        "spending_threshold": "0",
        "application_fields": "[]",
        "agreement_text": "",
        "binding_trigger": "first_visit",
        "binding_days": "",
        "attribution": "first_touch",
        "levels": "2",
        "rate_level1_bp": "12.5",
        "rate_level2_bp": "3",
        "rate_level3_bp": "0",
        "hold_days": "7",
        "settlement_mode": "per_order",
        "settlement_day": "1",
        "withdrawal_minimum": "1.00",
        "withdrawal_fee_bp": "0.6",
        "withdrawal_daily_cap": "",
        "withdrawal_methods": ["shop_balance", "bank"],
        "withdrawal_review": "on",
        "distributor_word": "推广员",
        "commission_word": "",
        "grades": "[]",
        "overrides": "[]",
        "preview_audience": "everyone",
    }
    saved = client.post("/console/distribution/settings/", form)
    assert saved.status_code == 302
    with in_shop(beta):
        s = DistributionSettings.current()
        assert (s.rate_level1_bp, s.rate_level2_bp, s.withdrawal_fee_bp, s.withdrawal_minimum) == (1250, 300, 60, 100)
        assert s.distributor_word == "推广员" and s.withdrawal_methods == ["shop_balance", "bank"]
        assert s.preview_audience == "everyone"
    bad = client.post(
        "/console/distribution/settings/", {**form, "levels": "3", "hold_days": "x", "distributor_word": "新"}
    )
    assert bad.status_code == 400
    assert b"at most 2 levels" in bad.content
    with in_shop(beta):
        assert DistributionSettings.current().distributor_word == "推广员"  # nothing saved
