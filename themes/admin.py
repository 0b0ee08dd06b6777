"""Operators manage the theme catalogue in the platform console: which themes are offered,
to which tiers, in what order; versions are published from theme folders (the built-in
ones by ``migrate_all`` on deploy, or with the action below after editing a folder)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from platform_core.audit import record_operator_action
from platform_core.operator import operator_site
from themes.catalogue import BUILTIN_DIR, publish_folder
from themes.models import Theme, ThemeVersion


class VersionInline(admin.TabularInline):
    model = ThemeVersion
    fields = ("version", "published_at", "published_by", "checksum")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Theme, site=operator_site)
class ThemeAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "tiers", "is_active", "position", "latest")
    list_editable = ("is_active", "position")
    fields = ("key", "name", "description", "tiers", "is_active", "position")
    readonly_fields = ("key",)
    inlines = [VersionInline]
    actions = ["publish_from_folder"]

    @admin.display(description=_("latest version"))
    def latest(self, theme: Theme) -> str:
        version = theme.latest_version()
        return version.version if version else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # themes arrive as folders

    def save_model(self, request: HttpRequest, obj: Theme, form: Any, change: bool) -> None:
        bad = [t for t in obj.tiers or [] if t not in ("standard", "pro", "custom")]
        if bad:
            raise ValidationError({"tiers": [_("Unknown tiers: %(t)s") % {"t": ", ".join(map(str, bad))}]})
        super().save_model(request, obj, form, change)
        record_operator_action(
            request.user, "theme.update", after={"theme": obj.key, "tiers": obj.tiers, "is_active": obj.is_active}
        )

    @admin.action(description=_("Publish a new version from the theme's folder"))
    def publish_from_folder(self, request: HttpRequest, queryset: QuerySet[Theme]) -> None:
        for theme in queryset:
            try:
                version = publish_folder(theme.key, BUILTIN_DIR / theme.key, by=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{theme.key}: {'; '.join(exc.messages)}", messages.ERROR)
                continue
            record_operator_action(
                request.user, "theme.publish", after={"theme": theme.key, "version": version.version}
            )
            self.message_user(request, f"{theme.key} {version.version}", messages.SUCCESS)
