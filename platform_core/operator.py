"""The operator console: Django's admin on the platform host, for platform staff
(users of the public schema with ``is_staff``). Domains register their pages on
``operator_site``; platform_core itself imports no domain."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from platform_core.tenancy import current_schema


class OperatorSite(admin.AdminSite):
    site_header = _("Fenxiao operator console")
    site_title = _("Fenxiao operators")
    index_title = _("Platform")
    index_template = "platform_core/operator_index.html"

    def has_permission(self, request: HttpRequest) -> bool:
        tenant = getattr(request, "tenant", None)
        on_platform = tenant is None or tenant.schema_name == "public"
        return on_platform and current_schema() == "public" and super().has_permission(request)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        extra_context = {**(extra_context or {}), "platform_metrics": platform_metrics()}
        return super().index(request, extra_context)


metrics_providers: list[Any] = []


def platform_metrics() -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for provider in metrics_providers:
        rows.extend(provider())
    return rows


operator_site = OperatorSite(name="operator")
