"""Render the Helm chart with Helm itself and check its connection budget against the
Python arithmetic of ``scripts/helm_budget.py`` (``make helm-check``).

No ``helm`` binary is needed: ``helm-python-sdk`` embeds Helm v4 as a library. It is large
(about 270 MB), so ``make helm-check`` installs it (``requirements/helm.txt``) into a
virtualenv of its own, ``.venv-helm``, never the project's. For each case the script
renders the chart (or expects Helm to refuse it), reads the budget the ConfigMap carries
and compares it with ``budget()``; then ``helm lint --strict`` on the CI value files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import helm_python
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.helm_budget import CHART, BudgetExceeded, check, values  # noqa: E402

SECRETS = {"secret": {"pgbouncerUpstreamUrl": "postgres://fenxiao:lint@db:5432/fenxiao"}}
PGBOUNCER = {"enabled": True, "image": {"tag": "lint-only"}}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("autoscaling to 10", {"web": {"autoscaling": {"enabled": True, "maxReplicas": 10}}}),
    ("autoscaling to 30", {"web": {"autoscaling": {"enabled": True, "maxReplicas": 30}}}),
    ("4 threads, surge 2", {"web": {"gunicorn": {"threads": 4}, "strategy": {"rollingUpdate": {"maxSurge": 2}}}}),
    ("web Recreate", {"web": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}),
    ("workers 4 × 8", {"worker": {"replicaCount": 4, "concurrency": 8}}),
    ("no beat, no migrations", {"beat": {"enabled": False}, "migrations": {"enabled": False}}),
    ("max_connections 28", {"database": {"maxConnections": 28}}),
    ("max_connections 29", {"database": {"maxConnections": 29}}),
    (
        "30 pods through PgBouncer",
        {"web": {"autoscaling": {"enabled": True, "maxReplicas": 30}}, "database": {"pgbouncer": PGBOUNCER}},
    ),
    (
        "PgBouncer, too few client slots",
        {
            "web": {"autoscaling": {"enabled": True, "maxReplicas": 30}},
            "database": {"pgbouncer": {**PGBOUNCER, "maxClientConn": 100}},
        },
    ),
    ("PgBouncer in transaction mode", {"database": {"pgbouncer": {**PGBOUNCER, "poolMode": "transaction"}}}),
]


def rendered_budget(chart: Any, merged: dict[str, Any]) -> tuple[int, int]:
    out = chart.render(values=merged, name="fenxiao", namespace="fenxiao")
    configmap = next(d for d in yaml.safe_load_all(out["fenxiao/templates/configmap.yaml"]) if d)
    notes = configmap["metadata"]["annotations"]
    clients = int(notes["fenxiao.io/db-connections-app"].rsplit("=", 1)[1])
    server = int(notes["fenxiao.io/db-connections-server"].split(" of ", 1)[0])
    if merged["database"]["pgbouncer"]["enabled"]:
        assert "fenxiao/templates/pgbouncer.yaml" in out and "POOL_MODE" in out["fenxiao/templates/pgbouncer.yaml"]
    return clients, server


def main() -> int:
    chart = helm_python.Chart.load(str(CHART))
    failures = 0
    print(f"Helm {helm_python.helm_sdk_version()} (helm-python-sdk), chart {CHART}")
    print(f"{'case':<34} {'python':>22}   helm")
    for name, extra in CASES:
        merged = values("lint-values.yaml", **SECRETS, **extra)
        try:
            expected: Any = check(merged)
            want = f"{expected['clients']} app, {expected['server']} server"
        except BudgetExceeded as exc:
            expected, want = None, f"refused ({exc})"
        try:
            clients, server = rendered_budget(chart, merged)
            got = f"{clients} app, {server} server"
            ok = expected is not None and (clients, server) == (expected["clients"], expected["server"])
        except helm_python.HelmError as exc:
            got = "refused: " + str(exc).split(": ", 2)[-1][:90]
            ok = expected is None
        failures += not ok
        print(f"{'ok ' if ok else 'BAD'} {name:<30} {want[:40]:>22}   {got}")
    for name in ("lint-values.yaml", "full-values.yaml"):
        result = helm_python.lint(str(CHART), values(name), strict=True)
        errors = result.get("errors") or []
        failures += bool(errors)
        print(f"{'ok ' if not errors else 'BAD'} helm lint --strict -f ci/{name}: {errors or 'no errors'}")
    print("all agree" if not failures else f"{failures} DISAGREE")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
