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
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django_tenants.middleware.main import TenantMainMiddleware

# Paths a suspended or closed shop still serves: its console (billing lives there),
# the console API, and assets.
CONSOLE_PREFIXES = ("/console/", "/api/v1/console/", "/static/", "/media/", "/i18n/")


log = logging.getLogger(__name__)


class ShopRoutingMiddleware(TenantMainMiddleware):
    @staticmethod
    def hostname_from_request(request: HttpRequest) -> str:
        # The exact host (lowercase, no port); "www." is tried as-is first (get_tenant).
        return request.get_host().split(":")[0].lower().rstrip(".")

    def get_tenant(self, domain_model: Any, hostname: str) -> Any:
        domains = domain_model.objects.select_related("tenant").filter(verified=True)
        domain = domains.filter(domain=hostname).first()
        if domain is None and hostname.startswith("www."):
            domain = domains.filter(domain=hostname[4:]).first()
        if domain is None:
            raise domain_model.DoesNotExist(hostname)
        return domain.tenant

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
