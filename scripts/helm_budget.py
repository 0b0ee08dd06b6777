"""The Helm chart's PostgreSQL connection budget in Python: the same arithmetic as
``fenxiao.dbConnections`` / ``fenxiao.checkConnectionBudget`` in
``helm/fenxiao/templates/_helpers.tpl``. ``tests/test_helm_budget.py`` checks the shipped
values and each term with it; ``scripts/helm_check.py`` (``make helm-check``) renders the
chart with Helm itself and compares the rendered figures with these."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "helm" / "fenxiao"


class BudgetExceeded(Exception):
    pass


def values(*files: str, **overrides: Any) -> dict[str, Any]:
    """values.yaml, then each CI file, then ``overrides`` (nested dicts), as Helm merges."""
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for name in files:
        _merge(merged, yaml.safe_load((CHART / "ci" / name).read_text()))
    _merge(merged, copy.deepcopy(overrides))
    return merged


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def surge(pods: int, setting: Any) -> int:
    """Kubernetes rounds a percentage maxSurge up."""
    text = str("25%" if setting in (None, "") else setting)
    if text.endswith("%"):
        return (pods * int(text[:-1]) + 99) // 100
    return int(text)


def budget(v: dict[str, Any]) -> dict[str, Any]:
    """The same arithmetic as the chart's ``fenxiao.dbConnections``."""
    web = v["web"]
    web_pods = int(web["autoscaling"]["maxReplicas"]) if web["autoscaling"]["enabled"] else int(web["replicaCount"])
    strategy = web.get("strategy") or {}
    web_surge = (
        surge(web_pods, (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"))
        if strategy.get("type", "RollingUpdate") == "RollingUpdate"
        else 0
    )
    gunicorn = web["gunicorn"]
    out: dict[str, Any] = {
        "web": (web_pods + web_surge) * int(gunicorn["workers"]) * int(gunicorn["threads"]),
        "worker": (int(v["worker"]["replicaCount"]) + surge(int(v["worker"]["replicaCount"]), "25%"))
        * int(v["worker"]["concurrency"]),
        "beat": 1 if v["beat"]["enabled"] else 0,
        "migrate": int(v["config"]["migrateWorkers"]) + 1 if v["migrations"]["enabled"] else 0,
    }
    out["clients"] = out["web"] + out["worker"] + out["beat"] + out["migrate"]
    db = v["database"]
    out["available"] = int(db["maxConnections"]) - int(db["reservedConnections"])
    pgb = db["pgbouncer"]
    out["pgbouncer"] = bool(pgb["enabled"])
    out["server"] = int(pgb["replicaCount"]) * int(pgb["poolSize"]) if pgb["enabled"] else out["clients"]
    out["clientLimit"] = int(pgb["replicaCount"]) * int(pgb["maxClientConn"]) if pgb["enabled"] else 0
    return out


def check(v: dict[str, Any]) -> dict[str, Any]:
    """The chart's ``fenxiao.checkConnectionBudget``: raises where rendering fails."""
    found = budget(v)
    if found["server"] > found["available"]:
        raise BudgetExceeded(f"{found['server']} connections, {found['available']} available")
    if found["pgbouncer"] and found["clients"] > found["clientLimit"]:
        raise BudgetExceeded(f"{found['clients']} clients, PgBouncer allows {found['clientLimit']}")
    if found["pgbouncer"] and v["database"]["pgbouncer"]["poolMode"] != "session":
        raise BudgetExceeded("PgBouncer must pool in session mode")
    return found
