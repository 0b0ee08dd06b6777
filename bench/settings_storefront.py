"""Settings of bench/storefront.py's server: the project's settings, with a URLconf that
adds the peer (a bare Django JSON view) to the shop URLs. Same middleware, same tenant
routing, same database settings: only ``ROOT_URLCONF`` differs."""

from __future__ import annotations

from platform_core.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls_storefront"
