"""Shops in the operator console: find and list them, suspend and resume with a reason,
change tier, set feature overrides. Every change goes through tenants.services, which
writes the audit log with the state before and after."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from platform_core.audit import record_operator_action
from platform_core.features import REGISTRY, TIER_CHOICES, effective_features
from platform_core.operator import metrics_providers, operator_site
from tenants import services
from tenants.models import Domain, PooledSchema, Tenant
from tenants.schemas import expected_fingerprint

SCHEMA_SIZE_SQL = (
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = tenants_tenant.schema_name AND c.relkind IN ('r', 'm', 'p')"
)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "kind", "is_primary", "verified"]
    readonly_fields = ("domain", "kind", "is_primary", "verified")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Tenant.Status.choices)
    reason = forms.CharField(
        label=_("Reason (shown to the merchant)"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


def _feature_choices() -> list[tuple[str, str]]:
    return [(key, f"{key} — {feature.label}") for key, feature in REGISTRY.items()]


class OverrideForm(forms.Form):
    key = forms.ChoiceField(label=_("Feature"), choices=_feature_choices)
    value = forms.JSONField(
        label=_("Value"),
        help_text=_("true/false for a feature, a number (or null = unlimited) for a limit"),
        required=False,
    )
    clear = forms.BooleanField(
        label=_("Clear"), required=False, help_text=_("Remove the override and use the tier's value")
    )
    reason = forms.CharField(label=_("Reason"), required=False)


def _human_size(num: int) -> str:
    size = float(num)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@admin.register(Tenant, site=operator_site)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tier", "status", "owner_email", "created_at", "size", "open_link"]
    list_filter = ["tier", "status", "created_at"]
    search_fields = ["name", "slug", "owner_email", "domains__domain"]
    ordering = ["-created_at"]
    readonly_fields = ["slug", "schema_name", "status", "status_reason", "owner_email", "created_at", "overrides"]
    fields = [
        "name",
        "slug",
        "schema_name",
        "tier",
        "status",
        "status_reason",
        "owner_email",
        "locale",
        "currency",
        "created_at",
        "overrides",
    ]
    inlines = [DomainInline]
    actions = ["suspend_selected", "resume_selected"]
    change_form_template = "tenants/admin/tenant_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return (
            super()
            .get_queryset(request)
            .exclude(schema_name="public")
            .annotate(schema_bytes=RawSQL(SCHEMA_SIZE_SQL, []))
        )

    @admin.display(description=_("size"), ordering="schema_bytes")
    def size(self, obj: Any) -> str:
        return _human_size(getattr(obj, "schema_bytes", 0) or 0)

    @admin.display(description=_("shop"))
    def open_link(self, obj: Tenant) -> str:
        return format_html('<a href="{}" target="_blank">{}</a>', services.shop_url(obj), _("open"))

    @admin.display(description=_("feature overrides"))
    def overrides(self, obj: Tenant) -> str:
        rows = obj.feature_overrides.order_by("key")
        return ", ".join(f"{o.key}={o.value!r}" for o in rows) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # shops are created through signup (the same fast path for everyone)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # nothing is deleted: suspend or close instead

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        tier = form.cleaned_data.get("tier")
        if "tier" in form.changed_data:
            services.tenant_change_tier(obj, tier, actor=request.user, reason="operator console")
        other = [f for f in form.changed_data if f != "tier"]
        if other:
            before = Tenant.objects.get(pk=obj.pk).snapshot()
            Tenant.objects.filter(pk=obj.pk).update(**{f: form.cleaned_data[f] for f in other})
            obj.refresh_from_db()
            record_operator_action(request.user, "shop.edit", obj, before, {f: form.cleaned_data[f] for f in other})

    def get_urls(self) -> list[Any]:
        urls = super().get_urls()
        extra = [
            path("<int:pk>/status/", self.admin_site.admin_view(self.status_view), name="tenants_tenant_status"),
            path(
                "<int:pk>/overrides/", self.admin_site.admin_view(self.overrides_view), name="tenants_tenant_overrides"
            ),
        ]
        return extra + urls

    def status_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        tenant = get_object_or_404(Tenant, pk=pk)
        form = StatusForm(request.POST or None, initial={"status": request.GET.get("status", tenant.status)})
        if request.method == "POST" and form.is_valid():
            try:
                services.tenant_set_status(
                    tenant, form.cleaned_data["status"], actor=request.user, reason=form.cleaned_data["reason"]
                )
            except ValidationError as exc:
                for field, errs in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errs)
            else:
                messages.success(
                    request,
                    _("Status of %(shop)s is now %(status)s.")
                    % {"shop": tenant.slug, "status": Tenant.Status(form.cleaned_data["status"]).label},
                )
                return HttpResponseRedirect(reverse("operator:tenants_tenant_change", args=[pk]))
        return TemplateResponse(
            request,
            "tenants/admin/status_form.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Change status of %s") % tenant,
                "form": form,
                "tenant": tenant,
                "opts": self.model._meta,
            },
            status=400 if request.method == "POST" else 200,
        )

    def overrides_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        tenant = get_object_or_404(Tenant, pk=pk)
        form = OverrideForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if data["clear"]:
                    services.tenant_clear_feature_override(
                        tenant, data["key"], actor=request.user, reason=data["reason"]
                    )
                else:
                    services.tenant_set_feature_override(
                        tenant, data["key"], data["value"], actor=request.user, reason=data["reason"]
                    )
            except ValidationError as exc:
                for field, errs in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errs)
            else:
                messages.success(request, _("Feature override saved."))
                return HttpResponseRedirect(reverse("operator:tenants_tenant_change", args=[pk]))
        return TemplateResponse(
            request,
            "tenants/admin/overrides_form.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Feature overrides of %s") % tenant,
                "form": form,
                "tenant": tenant,
                "features": effective_features(tenant),
                "opts": self.model._meta,
            },
            status=400 if request.method == "POST" else 200,
        )

    def _bulk_status(self, request: HttpRequest, queryset: QuerySet[Tenant], status: str) -> HttpResponse | None:
        reason = request.POST.get("reason", "").strip()
        if "apply" in request.POST:
            if status != "active" and not reason:
                self.message_user(request, _("Give a reason; the merchant sees it."), messages.ERROR)
            else:
                for tenant in queryset:
                    services.tenant_set_status(tenant, status, actor=request.user, reason=reason)
                count = queryset.count()
                self.message_user(
                    request, ngettext("%(n)d shop updated.", "%(n)d shops updated.", count) % {"n": count}
                )
                return None
        return TemplateResponse(
            request,
            "tenants/admin/bulk_status.html",
            {
                **self.admin_site.each_context(request),
                "queryset": queryset,
                "status": status,
                "status_label": Tenant.Status(status).label,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
                "title": _("Confirm"),
            },
        )

    @admin.action(description=_("Suspend selected shops (asks for a reason)"))
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, "suspended")

    @admin.action(description=_("Resume selected shops"))
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, "active")


def _tenant_metrics() -> list[tuple[str, Any]]:
    shops = Tenant.objects.exclude(schema_name="public")
    tiers = dict(TIER_CHOICES)
    rows: list[tuple[str, Any]] = [(str(_("Shops")), shops.count())]
    for row in shops.values("tier").annotate(n=Count("id")).order_by("tier"):
        rows.append((str(_("Tier: %(tier)s") % {"tier": tiers.get(row["tier"], row["tier"])}), row["n"]))
    for row in shops.values("status").annotate(n=Count("id")).order_by("status"):
        rows.append((str(_("Status: %(status)s") % {"status": Tenant.Status(row["status"]).label}), row["n"]))
    rows.append(
        (str(_("Ready schemas in the pool")), PooledSchema.objects.filter(fingerprint=expected_fingerprint()).count())
    )
    return rows


metrics_providers.append(_tenant_metrics)
