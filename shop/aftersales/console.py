"""Merchant console pages for after-sales: the list (filter by status), one after-sale with
the actions its state allows (approve, reject with a reason, confirm the return's receipt,
refund, record an offline refund's reference), and the reasons editor."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _

from platform_core.scoping import ConsoleView
from shop.aftersales import selectors, services
from shop.aftersales.models import AfterSale, AfterSaleReason


class AfterSaleList(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        found = AfterSale.objects.select_related("order", "member", "reason").order_by("-created_at", "-id")
        status = request.GET.get("status", "")
        if status in AfterSale.Status.values:
            found = found.filter(status=status)
        return self.render(
            "aftersales/console/list.html",
            {"aftersales": found[:200], "status": status, "statuses": AfterSale.Status.choices},
        )


class AfterSaleDetail(ConsoleView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._page(pk, {})

    def _page(self, pk: int, errors: dict[str, Any], status: int = 200) -> HttpResponse:
        aftersale = get_object_or_404(selectors.detailed(), pk=pk)
        return self.render("aftersales/console/detail.html", {"aftersale": aftersale, "errors": errors}, status)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        aftersale = get_object_or_404(AfterSale, pk=pk)
        action = request.POST.get("action")
        actor = f"staff:{request.user.pk}"
        try:
            if action == "approve":
                services.aftersale_approve(aftersale, actor=actor)
            elif action == "reject":
                services.aftersale_reject(aftersale, reason=request.POST.get("reject_reason", ""), actor=actor)
            elif action == "receive":
                services.aftersale_receive(aftersale, actor=actor)
            elif action == "refund":
                services.aftersale_refund(aftersale, actor=actor, reference=request.POST.get("reference", ""))
            elif action == "refund_sent":
                services.aftersale_refund_sent(
                    aftersale,
                    refund=request.POST.get("refund"),
                    reference=request.POST.get("reference", ""),
                    actor=actor,
                )
            else:
                raise ValidationError({"action": [_("Unknown action.")]})
        except ValidationError as exc:
            return self._page(pk, getattr(exc, "message_dict", {"action": exc.messages}), status=400)
        messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("aftersales-console:detail", args=[pk]))


def _reason_data(post: Any) -> dict[str, Any]:
    return {
        "name": post.get("name", ""),
        "position": post.get("position", "0") or "0",
        "is_active": post.get("is_active") == "on",
    }


class ReasonList(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page({}, {})

    def _page(self, errors: dict[str, Any], data: dict[str, Any], status: int = 200) -> HttpResponse:
        return self.render(
            "aftersales/console/reasons.html",
            {"reasons": selectors.reasons(), "errors": errors, "data": data},
            status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        data = _reason_data(request.POST)
        try:
            services.reason_save(data)
        except ValidationError as exc:
            return self._page(exc.message_dict, data, status=400)
        messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("aftersales-console:reasons"))


class ReasonEdit(ConsoleView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        get_object_or_404(AfterSaleReason, pk=pk)
        return HttpResponseRedirect(reverse("aftersales-console:reasons"))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        reason = get_object_or_404(AfterSaleReason, pk=pk)
        try:
            services.reason_save(_reason_data(request.POST), reason)
        except ValidationError as exc:
            return self.render(
                "aftersales/console/reasons.html",
                {"reasons": selectors.reasons(), "errors": exc.message_dict, "data": {}},
                status=400,
            )
        messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("aftersales-console:reasons"))
