"""The Helm chart's PostgreSQL connection budget (``fenxiao.dbConnections`` in
``helm/fenxiao/templates/_helpers.tpl``), computed here in Python over ``values.yaml`` and
the CI value files: the defaults fit, each term counts what its pods can open, a release
that could open more than ``max_connections`` minus the reserve is refused, PgBouncer only
in session mode. No ``helm`` binary here: ``make helm-check`` renders the chart with Helm
itself (helm-python-sdk) and compares its figures with this module's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scripts.helm_budget import CHART, BudgetExceeded, budget, check, values


# --- the shipped values -----------------------------------------------------------------
@pytest.mark.parametrize("files", [(), ("lint-values.yaml",), ("full-values.yaml",)])
def test_the_shipped_values_fit_a_default_postgresql(files: tuple[str, ...]) -> None:
    found = check(values(*files))
    assert found["available"] == 90  # max_connections 100 (PostgreSQL's default) − 10 kept free
    assert found["server"] <= found["available"]


def test_the_defaults_add_up_as_the_values_file_says() -> None:
    found = budget(values())
    # web (2 + 1 surge) × 3 workers × 1 thread, worker (1 + 1) × 2, beat, migrate 4 + 1
    assert (found["web"], found["worker"], found["beat"], found["migrate"]) == (9, 4, 1, 5)
    assert found["clients"] == found["server"] == 19
    assert "19 of 90" in (CHART / "values.yaml").read_text()


def test_autoscaling_counts_the_hpa_maximum_and_its_surge() -> None:
    found = budget(values(web={"autoscaling": {"enabled": True, "maxReplicas": 10}}))
    assert found["web"] == (10 + 3) * 3  # 25 % of 10 rounds up to 3
    with pytest.raises(BudgetExceeded):
        check(values(web={"autoscaling": {"enabled": True, "maxReplicas": 30}}))


@pytest.mark.parametrize(
    ("change", "grows"),
    [
        ({"web": {"gunicorn": {"threads": 4}}}, "web"),
        ({"web": {"gunicorn": {"workers": 6}}}, "web"),
        ({"web": {"replicaCount": 8}}, "web"),
        ({"worker": {"concurrency": 8}}, "worker"),
        ({"worker": {"replicaCount": 4}}, "worker"),
        ({"config": {"migrateWorkers": 16}}, "migrate"),
    ],
)
def test_every_knob_that_opens_connections_is_counted(change: dict[str, Any], grows: str) -> None:
    before, after = budget(values()), budget(values(**change))
    assert after[grows] > before[grows] and after["server"] > before["server"]


def test_a_fixed_surge_and_the_recreate_strategy() -> None:
    assert budget(values(web={"strategy": {"rollingUpdate": {"maxSurge": 2}}}))["web"] == (2 + 2) * 3
    assert budget(values(web={"strategy": {"type": "Recreate", "rollingUpdate": None}}))["web"] == 2 * 3


def test_the_reserve_and_a_smaller_server() -> None:
    check(values(database={"maxConnections": 29, "reservedConnections": 10}))  # 19 of 19
    with pytest.raises(BudgetExceeded):
        check(values(database={"maxConnections": 28, "reservedConnections": 10}))


def test_pgbouncer_in_session_mode_caps_what_postgresql_sees() -> None:
    big = {"web": {"autoscaling": {"enabled": True, "maxReplicas": 30}}}
    with pytest.raises(BudgetExceeded):
        check(values(**big))
    pooled = check(values(**big, database={"pgbouncer": {"enabled": True, "poolSize": 40, "maxClientConn": 400}}))
    assert pooled["server"] == 40 and pooled["clients"] == 124
    with pytest.raises(BudgetExceeded, match="clients"):
        check(values(**big, database={"pgbouncer": {"enabled": True, "maxClientConn": 100}}))
    with pytest.raises(BudgetExceeded, match="session"):
        check(values(database={"pgbouncer": {"enabled": True, "poolMode": "transaction"}}))


# --- the template says the same ---------------------------------------------------------
def _helper(name: str) -> str:
    text = (CHART / "templates" / "_helpers.tpl").read_text()
    match = re.search(r'\{\{-? define "' + re.escape(name) + r'" -?\}\}(.*?)\{\{-? end \}\}\n', text, re.S)
    assert match, f"{name} is defined in _helpers.tpl"
    return match.group(1)


def test_the_template_reads_the_same_values() -> None:
    body = _helper("fenxiao.dbConnections")
    for path in [
        r"\$web\.autoscaling\.maxReplicas",
        r"\$web\.replicaCount",
        r"\$web\.gunicorn\.workers",
        r"\$web\.gunicorn\.threads",
        r'"maxSurge" "25%"',
        r"\$v\.worker\.replicaCount",
        r"\$v\.worker\.concurrency",
        r"\$v\.beat\.enabled",
        r"\$v\.config\.migrateWorkers\) 1",
        r"\$v\.migrations\.enabled",
        r"\$db\.maxConnections",
        r"\$db\.reservedConnections",
        r"\$pgb\.replicaCount",
        r"\$pgb\.poolSize",
        r"\$pgb\.maxClientConn",
    ]:
        assert re.search(path, body), path
    check_body = _helper("fenxiao.checkConnectionBudget")
    assert "fail" in check_body and '"session"' in check_body


def test_rendering_always_runs_the_check() -> None:
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    assert configmap.lstrip().startswith('{{- include "fenxiao.checkConnectionBudget" . }}')
    assert "fenxiao.io/db-connections-server" in configmap


def test_pgbouncer_is_rendered_in_session_mode_with_a_clean_reset() -> None:
    template = (CHART / "templates" / "pgbouncer.yaml").read_text()
    assert "POOL_MODE" in template and "$pgb.poolMode" in template
    assert 'value: "DISCARD ALL"' in template
    assert values()["database"]["pgbouncer"]["poolMode"] == "session"
