"""Host routing and shop status.

* ``ShopRoutingMiddleware``: ``<slug>.<PLATFORM_DOMAIN>`` and verified custom domains go to
  their shop's schema; the bare platform domain to the public schema; any other host gets
  a clear 404 page, never another shop.
* ``ShopStatusMiddleware``: a suspended or closed shop's storefront shows a notice; its
  merchant console (and billing) stays reachable; nothing is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django_tenants.middleware.main import TenantMainMiddleware

from tenants import hosts

# Paths a suspended or closed shop still serves: its console (billing lives there),
# the console API, and assets.
CONSOLE_PREFIXES = ("/console/", "/api/v1/console/", "/static/", "/media/", "/i18n/")


log = logging.getLogger(__name__)


class ShopRoutingMiddleware(TenantMainMiddleware):
    """django-tenants' routing, with the host's shop read from the process's memo
    (``tenants.hosts``): a request for a known host sends no query to find its shop (and,
    with ``platform_core.db``, none to set the search path when its connection is already
    in that shop's schema)."""

    @staticmethod
    def hostname_from_request(request: HttpRequest) -> str:
        # The exact host (lowercase, no port); "www." is tried as-is first (get_tenant).
        return request.get_host().split(":")[0].lower().rstrip(".")

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            return HttpResponseNotFound()
        tenant = hosts.shop_for_host(hostname)
        if tenant is None:
            return self.no_tenant_found(request, hostname)
        tenant.domain_url = hostname
        request.tenant = tenant  # type: ignore[attr-defined]
        # (when the previous request on this connection was for this shop, no SET is sent:
        # platform_core.db keeps the search path it sent)
        cast(Any, connection).set_tenant(tenant)
        self.setup_url_routing(request)
        return None

    def get_tenant(self, domain_model: Any, hostname: str) -> Any:
        tenant = hosts.shop_for_host(hostname)
        if tenant is None:
            raise domain_model.DoesNotExist(hostname)
        return tenant

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": "unknown_host", "detail": gettext("No shop at %(host)s.") % {"host": hostname}}, status=404
            )
        return render(request, "platform_core/unknown_host.html", {"hostname": hostname}, status=404)


class ShopStatusMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.is_public or tenant.status == "active":
            return self.get_response(request)
        if request.path.startswith(CONSOLE_PREFIXES):
            return self.get_response(request)
        status = 503 if tenant.status == "suspended" else 410
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": f"shop_{tenant.status}", "detail": gettext("This shop is not open right now.")}, status=status
            )
        if tenant.status == "suspended":
            # The shop's own look (its theme's notice page); the plain page if even that fails.
            try:
                from shop.storefront.theming import render_page

                response = render_page(request, "templates/suspended", {}, status=status)
                if response.status_code == status:
                    return response
            except Exception:  # noqa: BLE001 - the notice must always show
                log.exception("the theme's suspended page failed")
        return render(request, "platform_core/shop_unavailable.html", {"shop": tenant}, status=status)
