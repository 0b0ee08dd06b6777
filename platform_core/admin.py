from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from platform_core.accounts.models import User
from platform_core.audit import record_operator_action
from platform_core.models import OperatorAuditEntry
from platform_core.operator import operator_site


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
