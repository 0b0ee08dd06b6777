"""What each shop pays the platform (public schema). Amounts in integer minor units."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class BillingAccount(models.Model):
    """One per shop: its billing provider, subscription state and dunning clock."""

    class Provider(models.TextChoices):
        STRIPE = "stripe", _("Stripe")
        OFFLINE = "offline", _("Offline (operator-managed)")

    class Status(models.TextChoices):
        TRIAL = "trial", _("Free trial")
        TRIALING = "trialing", _("Trialing")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Payment overdue")
        UNPAID = "unpaid", _("Unpaid")
        INCOMPLETE = "incomplete", _("Awaiting first payment")
        INCOMPLETE_EXPIRED = "incomplete_expired", _("First payment failed")
        CANCELED = "canceled", _("Canceled")
        PAUSED = "paused", _("Paused")

    tenant = models.OneToOneField(
        settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="billing", verbose_name=_("shop")
    )
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    status = models.CharField(_("status"), max_length=24, choices=Status.choices, default=Status.TRIAL)
    plan_key = models.CharField(_("plan"), max_length=40, blank=True)
    # offline billing: an upgrade the merchant asked for, applied when the operator records payment
    requested_plan_key = models.CharField(_("requested plan"), max_length=40, blank=True)
    trial_ends_at = models.DateTimeField(_("trial ends"), null=True, blank=True)
    current_period_end = models.DateTimeField(_("paid through"), null=True, blank=True)
    cancel_at_period_end = models.BooleanField(_("cancels at period end"), default=False)
    past_due_since = models.DateTimeField(_("overdue since"), null=True, blank=True)
    stripe_customer_id = models.CharField(_("Stripe customer"), max_length=64, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(_("Stripe subscription"), max_length=64, blank=True, db_index=True)
    stripe_subscription_item_id = models.CharField(max_length=64, blank=True)
    stripe_plan_id = models.CharField(max_length=80, blank=True)
    card_brand = models.CharField(_("card brand"), max_length=20, blank=True)
    card_last4 = models.CharField(_("card last 4 digits"), max_length=4, blank=True)
    # custom tier: the operator's quote, per month, in minor units of BILLING_CURRENCY
    custom_monthly_amount = models.PositiveIntegerField(_("custom price per month"), null=True, blank=True)
    trial_ending_notified = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("billing account")
        verbose_name_plural = _("billing accounts")

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.provider} {self.plan_key or '-'} {self.status}"


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        UNCOLLECTIBLE = "uncollectible", _("Uncollectible")
        VOID = "void", _("Void")

    account = models.ForeignKey(
        BillingAccount, on_delete=models.CASCADE, related_name="invoices", verbose_name=_("billing account")
    )
    provider = models.CharField(_("provider"), max_length=16, choices=BillingAccount.Provider.choices)
    external_id = models.CharField(max_length=64, unique=True)
    number = models.CharField(_("number"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    currency = models.CharField(_("currency"), max_length=3)
    amount_due = models.IntegerField(_("amount due"), default=0)
    amount_paid = models.IntegerField(_("amount paid"), default=0)
    hosted_invoice_url = models.URLField(_("invoice page"), max_length=500, blank=True)
    invoice_pdf = models.URLField(max_length=500, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    payment_failed_at = models.DateTimeField(_("payment failed"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=120, blank=True)  # offline payments
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

    def __str__(self) -> str:
        return self.number or self.external_id


class StripeEvent(models.Model):
    """Every webhook event received, recorded once by id; ``processed_at`` is set in the
    same transaction as the event's effect."""

    event_id = models.CharField(_("event"), max_length=80, unique=True)
    type = models.CharField(_("type"), max_length=80)
    payload = models.JSONField()
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("Stripe event")
        verbose_name_plural = _("Stripe events")

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"
