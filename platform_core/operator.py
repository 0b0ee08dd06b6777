"""The operator console: Django's admin on the platform host, for platform staff
(users of the public schema with ``is_staff``). Domains register their pages on
``operator_site``; platform_core itself imports no domain."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
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
        if not (on_platform and current_schema() == "public" and super().has_permission(request)):
            return False
        # Whenever DEBUG is off, only a session that passed the second step (operator_auth).
        from platform_core.operator_auth import VERIFIED_KEY, second_factor_required

        return not second_factor_required() or bool(request.session.get(VERIFIED_KEY))

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The password step, rate-limited, then the second factor (platform_core.operator_auth)."""
        from django.contrib.auth import REDIRECT_FIELD_NAME
        from django.urls import reverse

        from platform_core.operator_auth import OperatorLoginView

        if request.method == "GET" and self.has_permission(request):
            return super().login(request, extra_context)  # already in: to the index
        context: dict[str, Any] = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("operator:index")
        context.update(extra_context or {})
        request.current_app = self.name
        response = OperatorLoginView.as_view(extra_context=context)(request)
        return response  # type: ignore[return-value]

    def get_urls(self) -> list[Any]:
        from platform_core import operator_auth

        def on_site(view: Any) -> Any:
            def bound(request: HttpRequest) -> HttpResponse:
                request.current_app = self.name
                return view(request, self)

            return bound

        own: list[URLPattern] = [
            path("login/verify/", on_site(operator_auth.verify_view), name="login-verify"),
            path("login/enrol/", on_site(operator_auth.enrol_view), name="login-enrol"),
            path("two-factor/", self.admin_view(on_site(operator_auth.two_factor_view)), name="two-factor"),
        ]
        return own + super().get_urls()

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
