from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from platform_core.accounts.models import User
from platform_core.audit import record_operator_action
from platform_core.checks import describe
from platform_core.models import OperatorAuditEntry, ShopCheck
from platform_core.operator import metrics_providers, operator_site


@admin.register(OperatorAuditEntry, site=operator_site)
class OperatorAuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_email", "action", "tenant", "before", "after", "reason"]
    list_filter = ["action"]
    search_fields = ["actor_email", "action", "tenant__slug", "tenant__name", "reason"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User, site=operator_site)
class OperatorUserAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "is_staff", "is_superuser", "is_active", "last_login"]
    search_fields = ["email", "name"]
    fields = ["email", "name", "is_staff", "is_superuser", "is_active", "groups", "user_permissions"]
    filter_horizontal = ["groups", "user_permissions"]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        before = {f: form.initial.get(f) for f in form.changed_data if f not in ("groups", "user_permissions")}
        super().save_model(request, obj, form, change)
        after = {f: getattr(obj, f) for f in before}
        record_operator_action(
            request.user,
            "operator.user_changed" if change else "operator.user_added",
            None,
            {"email": obj.email, **before},
            {"email": obj.email, **after},
        )

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        record_operator_action(request.user, "operator.user_deleted", None, {"email": obj.email}, {})
        super().delete_model(request, obj)


class WithFindings(admin.SimpleListFilter):
    title = _("findings")
    parameter_name = "found"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("With findings")), ("no", _("Nothing found"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "yes":
            return queryset.filter(problems__gt=0)
        if self.value() == "no":
            return queryset.filter(problems=0)
        return queryset


@admin.register(ShopCheck, site=operator_site)
class ShopCheckAdmin(admin.ModelAdmin):
    """The nightly consistency checks of every shop (the money reconciliation), worst first."""

    list_display = ["tenant", "name", "problems", "checked_at"]
    list_filter = [WithFindings, "name"]
    search_fields = ["tenant__slug", "tenant__name"]
    fields = ["tenant", "name", "problems", "checked_at", "described"]
    readonly_fields = ["tenant", "name", "problems", "checked_at", "described"]

    @admin.display(description=_("what was found"))
    def described(self, obj: ShopCheck) -> str:
        rows = [
            format_html("<li><code>{}</code> {}: {}</li>", f.get("code"), f.get("subject"), describe(f))
            for f in obj.findings
        ]
        more = obj.problems - len(obj.findings)
        tail = format_html("<li>… {}</li>", _("and %(n)s more") % {"n": more}) if more > 0 else ""
        return format_html("<ul>{}{}</ul>", format_html_join("", "{}", ((r,) for r in rows)), tail)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _check_metrics() -> list[tuple[str, Any]]:
    return [(str(_("Shops with reconciliation findings")), ShopCheck.objects.filter(problems__gt=0).count())]


if _check_metrics not in metrics_providers:
    metrics_providers.append(_check_metrics)
