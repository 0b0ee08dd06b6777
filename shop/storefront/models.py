"""A shop's theme: which theme (and version) it shows, its settings, the draft the
merchant previews before publishing, the history of publications, and — on the custom
tier — its Liquid overrides with their own history and a log of render failures."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

DEFAULT_THEME = "allround"


class ShopTheme(models.Model):
    """One row per shop (pk=1). ``version_id`` None follows the theme's latest version."""

    theme_key = models.CharField(_("theme"), max_length=40, default=DEFAULT_THEME)
    version_id = models.PositiveIntegerField(_("pinned version"), null=True, blank=True)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    # {"theme_key", "version_id", "settings"} while the merchant edits; None when no draft
    draft = models.JSONField(null=True, blank=True)
    revision = models.PositiveIntegerField(default=0)
    override_revision = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("shop theme")

    def __str__(self) -> str:
        return self.theme_key

    @classmethod
    def current(cls) -> ShopTheme:
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    def published_state(self) -> dict[str, Any]:
        return {"theme_key": self.theme_key, "version_id": self.version_id, "settings": dict(self.settings)}


class ThemePublication(models.Model):
    revision = models.PositiveIntegerField(unique=True)
    theme_key = models.CharField(max_length=40)
    version_id = models.PositiveIntegerField(null=True, blank=True)
    settings = models.JSONField(default=dict)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.CharField(max_length=120, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-revision",)

    def __str__(self) -> str:
        return f"#{self.revision} {self.theme_key}"


class TemplateOverride(models.Model):
    """A custom-tier shop's own version of one theme template, by name."""

    name = models.CharField(_("template"), max_length=80, unique=True)
    source = models.TextField(_("published source"), blank=True)
    draft = models.TextField(_("draft"), null=True, blank=True)  # noqa: DJ001 - None: no draft; "" is a draft
    is_published = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class OverrideVersion(models.Model):
    """Each publication of an override (or its removal: ``source`` None)."""

    name = models.CharField(max_length=80)
    source = models.TextField(null=True, blank=True)  # noqa: DJ001 - None records a removal
    revision = models.PositiveIntegerField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ("-revision", "-id")
        indexes = [models.Index(fields=["name", "-revision"])]

    def __str__(self) -> str:
        return f"{self.name} #{self.revision}"


class OverrideFailure(models.Model):
    """A published override that failed at render time (the theme's template was served
    instead). One row per template and message; ``count`` and ``last_at`` move."""

    name = models.CharField(max_length=80)
    message = models.CharField(max_length=500)
    line = models.PositiveIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField(auto_now_add=True)
    last_at = models.DateTimeField(auto_now=True)
    override_revision = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-last_at",)
        constraints = [
            models.UniqueConstraint(fields=["name", "message", "override_revision"], name="override_failure_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class ThemeAsset(models.Model):
    """A custom-tier shop's own asset (stylesheet or image), used by its overrides through
    ``{{ 'name' | asset_url }}`` — and replacing the theme's asset of the same name."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    url = models.CharField(max_length=300)
    storage_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name
