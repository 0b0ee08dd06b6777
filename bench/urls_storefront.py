"""URLconf of bench/storefront.py: every shop URL, plus ``/bench/bare/``, the peer.

The peer is a bare Django JSON view: no DRF, no query, one constant ``JsonResponse``. It is
reached on the shop's host, so it goes through the whole middleware stack and the tenant
routing (one query: the host's shop) exactly like the product list does. Its payload is
the product list's own first page (the benchmark saves it to the file named by
``BENCH_BARE_PAYLOAD`` before starting the server), serialised per request with the same
compact, non-ASCII-escaping JSON as DRF's renderer: the same bytes on the wire."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path

from platform_core.urls_tenant import urlpatterns as shop_urlpatterns


def _payload() -> Any:
    source = os.environ.get("BENCH_BARE_PAYLOAD", "")
    if source:
        return json.loads(Path(source).read_text(encoding="utf-8"))
    product = {
        "id": 1,
        "name": "Bench product",
        "subtitle": "",
        "min_price": 9900,
        "max_price": 12900,
        "sales_count": 0,
        "category": 1,
        "image": None,
    }
    return {"count": 200, "next": None, "previous": None, "results": [dict(product, id=i) for i in range(1, 21)]}


PAYLOAD = _payload()


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse(PAYLOAD, json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare/", bare, name="bench-bare"),
    *cast(list[URLPattern | URLResolver], shop_urlpatterns),
]
