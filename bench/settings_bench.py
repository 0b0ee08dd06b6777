"""Benchmark settings: the project's settings plus, when ``BENCH_APP_DIR`` is set, the
throwaway tenant app generated there (bench/benchapp.py).

``migrate_schemas`` picks its executor through ``bench.djt_sample.get_executor``, which is
django-tenants' own ``get_executor`` unless ``BENCH_PEER_SAMPLE`` asks it to run the peer
on an evenly spaced sample of the shops (for extrapolation; see bench/README.md)."""

from __future__ import annotations

import os
import sys

from platform_core.settings import *  # noqa: F403
from platform_core.settings import INSTALLED_APPS, TENANT_APPS

_app_dir = os.environ.get("BENCH_APP_DIR", "")
if _app_dir:
    if _app_dir not in sys.path:
        sys.path.insert(0, _app_dir)
    TENANT_APPS = [*TENANT_APPS, "fenxiao_benchapp"]
    INSTALLED_APPS = [*INSTALLED_APPS, "fenxiao_benchapp"]

GET_EXECUTOR_FUNCTION = "bench.djt_sample.get_executor"
