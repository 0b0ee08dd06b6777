"""Billing in the operator console: each shop's billing state, failed payments, MRR per
tier, the custom tier's quoted price, and recording offline payments."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from billing import dunning, services
from billing.models import BillingAccount, Invoice, StripeEvent
from platform_core.audit import record_operator_action
from platform_core.operator import metrics_providers, operator_site

INVOICE_FIELDS: Any = [
    "number",
    "provider",
    "status",
    "amount_due",
    "amount_paid",
    "currency",
    "payment_failed_at",
    "paid_at",
    "reference",
    "hosted_invoice_url",
]


class InvoiceInline(admin.TabularInline):
    model = Invoice
    extra = 0
    can_delete = False
    fields = INVOICE_FIELDS
    readonly_fields = INVOICE_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OfflinePaymentForm(forms.Form):
    plan = forms.ChoiceField(label=_("Plan paid for"), choices=())
    months = forms.IntegerField(label=_("Months paid"), min_value=1, max_value=36, initial=1)
    amount = forms.IntegerField(label=_("Amount received (minor units, e.g. fen)"), min_value=0)
    reference = forms.CharField(label=_("Reference (bank transfer no., receipt no.)"), max_length=120)


@admin.register(BillingAccount, site=operator_site)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = [
        "tenant",
        "provider",
        "plan_key",
        "requested_plan_key",
        "status",
        "trial_ends_at",
        "current_period_end",
        "past_due_since",
        "cancel_at_period_end",
    ]
    list_filter = ["provider", "status", "plan_key", "cancel_at_period_end"]
    search_fields = [
        "tenant__slug",
        "tenant__name",
        "tenant__owner_email",
        "stripe_customer_id",
        "stripe_subscription_id",
    ]
    readonly_fields = [
        "tenant",
        "provider",
        "status",
        "plan_key",
        "trial_ends_at",
        "current_period_end",
        "cancel_at_period_end",
        "past_due_since",
        "stripe_customer_id",
        "stripe_subscription_id",
        "card_brand",
        "card_last4",
    ]
    fields = [*readonly_fields, "custom_monthly_amount"]  # type: ignore[assignment]
    inlines = [InvoiceInline]
    change_form_template = "billing/admin/account_change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: BillingAccount, form: Any, change: bool) -> None:
        if "custom_monthly_amount" in form.changed_data:
            before = BillingAccount.objects.get(pk=obj.pk).custom_monthly_amount
            super().save_model(request, obj, form, change)
            record_operator_action(
                request.user,
                "billing.custom_price",
                obj.tenant,
                {"custom_monthly_amount": before},
                {"custom_monthly_amount": obj.custom_monthly_amount},
            )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/offline-payment/",
                self.admin_site.admin_view(self.offline_payment),
                name="billing_offline_payment",
            ),
        ] + super().get_urls()

    def offline_payment(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = get_object_or_404(BillingAccount.objects.select_related("tenant"), pk=pk)
        form = OfflinePaymentForm(
            request.POST or None, initial={"plan": account.requested_plan_key or account.plan_key}
        )
        cast(forms.ChoiceField, form.fields["plan"]).choices = [
            (p.key, services.plan_label(p)) for p in services.available_plans(account)
        ]
        if request.method == "POST" and form.is_valid():
            try:
                data = dict(form.cleaned_data)
                dunning.offline_record_payment(account, actor=request.user, plan_key=data.pop("plan"), **data)
            except ValidationError as exc:
                for field, errs in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errs)
            else:
                messages.success(request, _("Payment recorded."))
                return HttpResponseRedirect(reverse("operator:billing_billingaccount_change", args=[pk]))
        return TemplateResponse(
            request,
            "billing/admin/offline_payment.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "account": account,
                "opts": self.model._meta,
                "title": _("Record an offline payment for %s") % account.tenant,
            },
            status=400 if request.method == "POST" else 200,
        )


@admin.register(Invoice, site=operator_site)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "account",
        "provider",
        "status",
        "amount_due",
        "amount_paid",
        "currency",
        "payment_failed_at",
        "paid_at",
    ]
    list_filter = ["status", "provider", ("payment_failed_at", admin.EmptyFieldListFilter)]
    search_fields = ["number", "external_id", "account__tenant__slug"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StripeEvent, site=operator_site)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "type", "received_at", "processed_at", "outcome"]
    list_filter = ["type", ("processed_at", admin.EmptyFieldListFilter)]
    search_fields = ["event_id", "type"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _billing_metrics() -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for tier, amount in services.mrr_by_tier().items():
        rows.append((str(_("MRR (%(tier)s)") % {"tier": services.tier_label(tier)}), services.money(amount)))
    rows.append((str(_("Shops overdue")), BillingAccount.objects.filter(past_due_since__isnull=False).count()))
    rows.append(
        (
            str(_("Failed payments (open)")),
            Invoice.objects.filter(payment_failed_at__isnull=False, status="open").count(),
        )
    )
    return rows


metrics_providers.append(_billing_metrics)
