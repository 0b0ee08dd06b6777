"""The theme catalogue (public schema, shared by every shop).

A theme is a folder (``themes/builtin/<key>/``: ``manifest.json``, Liquid files under
``layout/``, ``templates/``, ``sections/``, ``snippets/``, and ``assets/``). Publishing a
folder snapshots it into an immutable :class:`ThemeVersion`: the Liquid sources are kept
in the row, the assets are written to storage under content-hashed names. Shops follow a
theme's latest version or stay pinned to one; the platform's ``base`` theme supplies every
template a theme does not ship itself.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

BASE_THEME = "base"


class Theme(models.Model):
    key = models.SlugField(_("key"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # Tiers that may choose this theme; empty means every tier.
    tiers = models.JSONField(_("tiers"), default=list, blank=True)
    is_active = models.BooleanField(_("offered to shops"), default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("position", "key")
        verbose_name = _("theme")
        verbose_name_plural = _("themes")

    def __str__(self) -> str:
        return self.name

    def allows_tier(self, tier: str) -> bool:
        return not self.tiers or tier in self.tiers

    def latest_version(self) -> ThemeVersion | None:
        return self.versions.order_by("-id").first()


class ThemeVersion(models.Model):
    theme = models.ForeignKey(Theme, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(_("version"), max_length=20)
    manifest = models.JSONField(default=dict)
    # Liquid sources by template name ("templates/product", "sections/block-banner", ...)
    files = models.JSONField(default=dict)
    # asset name → URL of its stored copy, content-hashed (cached for a year by browsers and CDNs)
    assets = models.JSONField(default=dict)
    base = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    checksum = models.CharField(max_length=64)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [models.UniqueConstraint(fields=["theme", "version"], name="theme_version_unique")]
        verbose_name = _("theme version")
        verbose_name_plural = _("theme versions")

    def __str__(self) -> str:
        return f"{self.theme.key} {self.version}"

    @property
    def settings_schema(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("settings", []))
