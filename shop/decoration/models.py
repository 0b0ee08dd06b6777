"""Decorated pages (装修): the home page and custom pages, each a list of typed blocks
(``{"id", "type", "config"}``, see ``blocks.py``). The merchant edits ``draft_blocks``;
publishing copies them to ``published_blocks`` and records a ``PageVersion``."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

HOME = "home"


class Page(models.Model):
    slug = models.SlugField(_("address"), max_length=60, unique=True)
    title = models.CharField(_("title"), max_length=60, blank=True)
    draft_blocks = models.JSONField(_("draft blocks"), default=list, blank=True)
    # Bumped on every draft change: a save based on an older revision is refused (two tabs
    # or two colleagues never silently overwrite each other's work).
    draft_revision = models.PositiveIntegerField(default=0)
    published_blocks = models.JSONField(_("published blocks"), default=list, blank=True)
    published_title = models.CharField(max_length=60, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    # The number of the live version (0: never published).
    version = models.PositiveIntegerField(_("version"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("page")
        verbose_name_plural = _("pages")

    def __str__(self) -> str:
        return self.slug

    @property
    def is_home(self) -> bool:
        return self.slug == HOME

    @property
    def is_published(self) -> bool:
        return self.version > 0


class PageVersion(models.Model):
    """One publish of a page: what went live, when, by whom (a rollback is a publish too)."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="versions", verbose_name=_("page"))
    number = models.PositiveIntegerField(_("version"))
    title = models.CharField(max_length=60, blank=True)
    blocks = models.JSONField(default=list)
    published_at = models.DateTimeField(_("published at"))
    published_by = models.CharField(_("published by"), max_length=254, blank=True)
    rolled_back_from = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        verbose_name = _("page version")
        verbose_name_plural = _("page versions")
        constraints = [models.UniqueConstraint(fields=["page", "number"], name="page_version_number_uniq")]

    def __str__(self) -> str:
        return f"{self.page_id}@{self.number}"
