"""Shops (tenants), their hosts, and the warm pool of ready schemas."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_tenants.models import DomainMixin, TenantMixin

from platform_core.features import TIER_CHOICES


class Tenant(TenantMixin):
    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("shop status", "Open")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    name = models.CharField(_("shop name"), max_length=100)
    slug = models.CharField(_("slug"), max_length=30)
    tier = models.CharField(_("tier"), max_length=16, choices=TIER_CHOICES, default="standard")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(_("status reason"), max_length=255, blank=True)
    # Who set the current non-active status: an operator, or billing (unpaid). Billing only
    # ever lifts a suspension it imposed itself.
    status_by = models.CharField(_("status set by"), max_length=16, blank=True)
    owner_email = models.EmailField(_("owner email"), blank=True)
    locale = models.CharField(_("locale"), max_length=10, default="zh-hans")
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Schemas are provisioned by tenants.schemas (pool hand-over or DDL replay), never by
    # django-tenants' migrate-on-save.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        verbose_name = _("shop")
        verbose_name_plural = _("shops")
        constraints = [
            models.UniqueConstraint(Lower("slug"), name="tenant_slug_ci_uniq"),
            models.UniqueConstraint(
                Lower("owner_email"),
                name="tenant_owner_email_ci_uniq",
                condition=~models.Q(owner_email=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_public(self) -> bool:
        return self.schema_name == "public"

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tier": self.tier,
            "status": self.status,
            "status_reason": self.status_reason,
            "status_by": self.status_by,
        }


class Domain(DomainMixin):
    class Kind(models.TextChoices):
        PLATFORM = "platform", _("Platform subdomain")
        CUSTOM = "custom", _("Custom domain")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PLATFORM)
    verified = models.BooleanField(_("verified"), default=True)

    class Meta:
        verbose_name = _("host")
        verbose_name_plural = _("hosts")


class SchemaTemplate(models.Model):
    """The template schema every new shop schema is replayed from, and the migration
    state it is at. One row."""

    schema_name = models.CharField(max_length=63, unique=True)
    fingerprint = models.CharField(max_length=64)
    script = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.schema_name} @ {self.fingerprint[:12]}"


class PooledSchema(models.Model):
    """A ready, fully migrated shop schema waiting to be handed to the next signup."""

    schema_name = models.CharField(max_length=63, unique=True)
    fingerprint = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.schema_name
