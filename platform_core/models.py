"""Platform-level records in the public schema: per-shop feature overrides and the
operator audit log. Shops are referenced through settings.TENANT_MODEL, never imported."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class FeatureOverride(models.Model):
    """An operator's per-shop override of one feature or limit of the tier registry."""

    tenant = models.ForeignKey(settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="feature_overrides")
    key = models.CharField(_("feature"), max_length=64)
    # bool for a feature, int for a limit (null = unlimited)
    value = models.JSONField(_("value"), null=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("feature override")
        verbose_name_plural = _("feature overrides")
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="feature_override_uniq")]

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}"


class OperatorAuditEntry(models.Model):
    """Append-only: who did what to which shop, when, with the state before and after."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    actor_email = models.CharField(_("operator"), max_length=254)
    action = models.CharField(_("action"), max_length=64)
    tenant = models.ForeignKey(
        settings.TENANT_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_entries",
    )
    before = models.JSONField(_("before"), default=dict)
    after = models.JSONField(_("after"), default=dict)
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("operator audit entry")
        verbose_name_plural = _("operator audit log")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email} {self.action}"


class OutboxMessage(models.Model):
    """Work that must happen once a transaction commits (``platform_core.outbox``): written
    in that transaction, published to Celery after the commit, deleted once the broker took
    it. A row still here is due again at ``available_at`` (the relay's backoff)."""

    schema_name = models.CharField(max_length=63)  # the shop the task runs in ("public" for platform work)
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    available_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        indexes = [models.Index(fields=["available_at", "id"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} in {self.schema_name}"


class ShopCheck(models.Model):
    """The latest run of one consistency check over one shop (the money reconciliation of
    ``distribution_verify``, …): when, how many findings, and the first of them (as
    ``platform_core.checks.Finding`` dicts). Written by the check's task in the shop's
    schema; read by the operator console and the shop's own console."""

    tenant = models.ForeignKey(
        settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="checks", verbose_name=_("shop")
    )
    name = models.CharField(_("check"), max_length=40)
    problems = models.PositiveIntegerField(_("findings"), default=0)
    findings = models.JSONField(_("first findings"), default=list, blank=True)
    checked_at = models.DateTimeField(_("checked"))

    class Meta:
        ordering = ["-problems", "-checked_at", "id"]
        verbose_name = _("shop check")
        verbose_name_plural = _("shop checks")
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="shop_check_uniq")]

    def __str__(self) -> str:
        return f"{self.name}: {self.problems}"


class OperatorTOTP(models.Model):
    """An operator's authenticator (TOTP, platform_core/totp.py). Unconfirmed until the first
    code from the app is entered; a confirmed one is asked for at every login."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_totp")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # the time step of the last code accepted: a code is good once
    last_step = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("operator authenticator")
        verbose_name_plural = _("operator authenticators")

    def __str__(self) -> str:
        return f"{self.user_id}: {'confirmed' if self.confirmed_at else 'pending'}"


class OperatorRecoveryCode(models.Model):
    """One-time codes for an operator without their authenticator; only hashes are stored
    (the codes are shown once, when made)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("recovery code")
        verbose_name_plural = _("recovery codes")
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}: {'used' if self.used_at else 'unused'}"
