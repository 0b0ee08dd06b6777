from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from platform_core.accounts.models import User
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
