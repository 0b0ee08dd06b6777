"""Merchant console pages of distribution: the overview (with the ranking and flags), the
settings form, the distributors (review, freeze, ban), commission lines, a member's
binding history with re-binding, and the withdrawals queue."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from distribution import config
from distribution.models import DistributionSettings
from platform_core.scoping import ConsoleView
from shop.catalogue.console import parse_yuan, whole_number, yuan

S = DistributionSettings
BOOLS = ["enabled", "self_purchase", "team_dividend_enabled", "withdrawal_review"]
CHOICES = ["qualification", "binding_trigger", "attribution", "settlement_mode", "preview_audience"]
NUMBERS = ["levels", "hold_days", "settlement_day"]
OPTIONAL_NUMBERS = ["binding_days"]
PERCENTS = ["rate_level1_bp", "rate_level2_bp", "rate_level3_bp", "commission_cap_bp", "withdrawal_fee_bp"]
MONEY = ["spending_threshold", "withdrawal_minimum"]
OPTIONAL_MONEY = ["withdrawal_daily_cap"]
TEXTS = ["agreement_text", "distributor_word", "commission_word"]
LISTS = ["application_fields", "grades", "overrides"]


def _percent(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}"


def form_values(data: dict[str, Any]) -> dict[str, Any]:
    """The settings as the form shows them (percent and yuan as text, lists as JSON)."""
    shown: dict[str, Any] = {f: data[f] for f in BOOLS + CHOICES + NUMBERS + TEXTS}
    shown["binding_days"] = "" if data["binding_days"] is None else data["binding_days"]
    shown.update({f: _percent(data[f]) for f in PERCENTS})
    shown.update({f: yuan(data[f]) for f in MONEY})
    shown.update({f: "" if data[f] is None else yuan(data[f]) for f in OPTIONAL_MONEY})
    shown.update({f: json.dumps(data[f], ensure_ascii=False, indent=1) for f in LISTS})
    shown["withdrawal_methods"] = data["withdrawal_methods"]
    return shown


class DistributionSettingsPage(ConsoleView):
    owner_only = True

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(form_values(config.settings_data(self.shop)), {})

    def _page(self, shown: dict[str, Any], errors: dict[str, list[str]], status: int = 200) -> HttpResponse:
        return self.render(
            "distribution/console/settings.html",
            {
                "data": shown,
                "errors": errors,
                "choices": {
                    "qualification": S.Qualification.choices,
                    "binding_trigger": S.Trigger.choices,
                    "attribution": S.Attribution.choices,
                    "settlement_mode": S.Settlement.choices,
                    "preview_audience": S.Preview.choices,
                },
                "methods": [
                    ("shop_balance", _("Shop balance")),
                    ("bank", _("Bank transfer")),
                    ("stripe_connect", _("Stripe Connect")),
                ],
                "max_levels": config.max_levels(self.shop),
            },
            status=status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        post = request.POST
        shown: dict[str, Any] = {f: post.get(f, "").strip() for f in CHOICES + NUMBERS + OPTIONAL_NUMBERS + PERCENTS}
        shown.update({f: post.get(f, "").strip() for f in MONEY + OPTIONAL_MONEY + TEXTS + LISTS})
        shown.update({f: f in post for f in BOOLS})
        shown["withdrawal_methods"] = post.getlist("withdrawal_methods")
        errors: dict[str, list[str]] = {}
        data: dict[str, Any] = {f: shown[f] for f in BOOLS + CHOICES + TEXTS}
        data["withdrawal_methods"] = shown["withdrawal_methods"]
        for f in NUMBERS:
            value = whole_number(shown[f], 100_000)
            if value is None:
                errors[f] = [_("Enter a whole number.")]
            data[f] = value
        data["binding_days"] = None if not shown["binding_days"] else whole_number(shown["binding_days"], 100_000)
        if shown["binding_days"] and data["binding_days"] is None:
            errors["binding_days"] = [_("Enter a whole number of days, or leave empty for permanent.")]
        shown["commission_cap_bp"] = shown["commission_cap_bp"] or "100"  # empty: no cap below the price
        for f in PERCENTS:
            data[f] = parse_yuan(shown[f] or "0")
            if data[f] is None:
                errors[f] = [_("Enter a percentage like 10 or 12.5.")]
        cap = data.get("commission_cap_bp")
        if cap is not None and not 1 <= cap <= 10_000:
            errors["commission_cap_bp"] = [_("Enter a percentage from 0.01 to 100.")]
        for f in MONEY:
            data[f] = parse_yuan(shown[f] or "0")
            if data[f] is None:
                errors[f] = [_("Enter an amount like 8.00.")]
        for f in OPTIONAL_MONEY:
            data[f] = parse_yuan(shown[f]) if shown[f] else None
            if shown[f] and data[f] is None:
                errors[f] = [_("Enter an amount like 500.00, or leave empty.")]
        for f in LISTS:
            try:
                data[f] = json.loads(shown[f] or "[]")
            except ValueError:
                errors[f] = [_("Write a JSON list.")]
        data = {k: v for k, v in data.items() if k not in errors}
        with transaction.atomic():  # every message at once, but nothing saved unless all is valid
            try:
                config.settings_update(self.shop, data)
            except ValidationError as exc:
                for field, messages_ in exc.message_dict.items():
                    errors.setdefault(field, messages_)
            if errors:
                transaction.set_rollback(True)
        if errors:
            return self._page(shown, errors, status=400)
        messages.success(request, _("Settings saved."))
        return HttpResponseRedirect(reverse("distribution-console:settings"))


class DistributorList(ConsoleView):
    """Distributors: search by code, phone or email; filter by status and grade."""

    def get(self, request: HttpRequest) -> HttpResponse:
        from distribution.models import Distributor, Grade

        q = request.GET.get("q", "").strip()
        status = request.GET.get("status", "")
        grade = request.GET.get("grade", "")
        found = Distributor.objects.select_related("member", "grade").order_by("-id")
        if status in Distributor.Status.values:
            found = found.filter(status=status)
        if grade.isdigit():
            found = found.filter(grade_id=int(grade))
        if q:
            found = found.filter(
                Q(code=q.upper())
                | Q(member__phone__contains=q)
                | Q(member__email__icontains=q)
                | Q(member__name__icontains=q)
            )
        return self.render(
            "distribution/console/distributors.html",
            {
                "distributors": found[:200],
                "q": q,
                "status": status,
                "grade": grade,
                "statuses": Distributor.Status.choices,
                "grades": Grade.objects.all(),
                "settings": DistributionSettings.current(),
            },
        )


class DistributorActionPage(ConsoleView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from distribution import services
        from distribution.models import Distributor

        found = get_object_or_404(Distributor, pk=pk)
        try:
            services.distributor_action(found, request.POST.get("action", ""), note=request.POST.get("note", ""))
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Done."))
        return HttpResponseRedirect(reverse("distribution-console:distributors"))


class WithdrawalQueue(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        from distribution.models import Account, LedgerAccount, Withdrawal, WithdrawalDecision

        status = request.GET.get("status", "requested")
        found = Withdrawal.objects.select_related("distributor__member").order_by("-id")
        if status in Withdrawal.Status.values:
            found = found.filter(status=status)
        page = list(found[:200])
        debts = dict(
            LedgerAccount.objects.filter(
                distributor_id__in={w.distributor_id for w in page}, kind=Account.CLAWBACK_DEBT, balance__lt=0
            ).values_list("distributor_id", "balance")
        )
        decisions: dict[int, WithdrawalDecision] = {}
        for decision in WithdrawalDecision.objects.filter(withdrawal__in=page).order_by("at", "id"):
            decisions[decision.withdrawal_id] = decision  # the latest
        rows = [{"w": w, "debt": -int(debts.get(w.distributor_id, 0)), "decision": decisions.get(w.pk)} for w in page]
        return self.render(
            "distribution/console/withdrawals.html",
            {
                "rows": rows,
                "status": status,
                "statuses": Withdrawal.Status.choices,
                "owing": sum(1 for w in page if debts.get(w.distributor_id) and w.status in ("requested", "approved")),
            },
        )


class WithdrawalActionPage(ConsoleView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from distribution import withdrawals
        from distribution.models import Withdrawal

        found = get_object_or_404(Withdrawal, pk=pk)
        action = request.POST.get("action", "")
        actor = f"staff:{request.user.pk}"
        try:
            if action in ("approve", "reject"):
                withdrawals.withdrawal_review(
                    found, approve=action == "approve", actor=actor, reason=request.POST.get("reason", "")
                )
            elif action == "paid" and found.method == Withdrawal.Method.STRIPE_CONNECT:
                withdrawals.withdrawal_payout_stripe(found, actor=actor)
            elif action == "paid":
                withdrawals.withdrawal_paid(found, reference=request.POST.get("reference", ""), actor=actor)
            elif action == "failed":
                withdrawals.withdrawal_failed(found, reason=request.POST.get("reason", ""), actor=actor)
            elif action == "debt":
                withdrawals.withdrawal_debt_decide(
                    found,
                    decision=request.POST.get("decision", ""),
                    reason=request.POST.get("debt_reason", ""),
                    actor=actor,
                )
            else:
                raise ValidationError({"action": [_("Choose approve, reject, paid or failed.")]})
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Done."))
        back = request.POST.get("status", "")  # the list the merchant was looking at
        query = f"?status={back}" if back in Withdrawal.Status.values or back == "all" else ""
        return HttpResponseRedirect(reverse("distribution-console:withdrawals") + query)


PERIOD_LABELS = {
    "month": gettext_lazy("This month"),
    "week": gettext_lazy("This week"),
    "30d": gettext_lazy("Last 30 days"),
    "all": gettext_lazy("All time"),
}
FLAG_LABELS = {
    "self_referral": gettext_lazy("Possible self-referral"),
    "binding_velocity": gettext_lazy("Bindings too fast"),
    "refund_after_settlement": gettext_lazy("Refunds after settlement"),
}


class DistributionOverview(ConsoleView):
    """GMV brought in by distributors, commission by state, top distributors (the ranking
    of the period) and the flags to look at."""

    def get(self, request: HttpRequest) -> HttpResponse:
        from distribution import selectors
        from distribution.models import Distributor

        period = request.GET.get("period", "month")
        period = period if period in selectors.PERIODS else "month"
        found = selectors.overview(selectors.period_start(period))
        flags = [{**f, "label": FLAG_LABELS.get(f["kind"], f["kind"])} for f in selectors.fraud_flags()[:100]]
        return self.render(
            "distribution/console/overview.html",
            {
                "overview": found,
                "flags": flags,
                "period": period,
                "periods": [(k, PERIOD_LABELS[k]) for k in selectors.PERIODS],
                "status_counts": [(label, found["distributors"][value]) for value, label in Distributor.Status.choices],
                "settings": DistributionSettings.current(),
                "reconciliation": reconciliation_view(self.shop.schema_name),
            },
        )


def reconciliation_view(schema_name: str) -> dict[str, Any] | None:
    """The latest reconciliation of this shop, its findings in the reader's language."""
    from distribution import verify
    from platform_core.checks import describe, latest

    run = latest(schema_name, verify.CHECK)
    if run is None:
        return None
    return {
        "checked_at": run.checked_at,
        "problems": run.problems,
        "findings": [{**f, "message": describe(f)} for f in run.findings],
        "more": max(0, run.problems - len(run.findings)),
    }


class ReconcileNow(ConsoleView):
    """Run the money reconciliation of this shop now (the nightly job's own check)."""

    def post(self, request: HttpRequest) -> HttpResponse:
        from distribution import verify

        found = verify.verify_and_record()
        if found:
            messages.error(
                request,
                _("The reconciliation found %(n)s problem(s): see below, and contact support if you need help.")
                % {"n": found},
            )
        else:
            messages.success(request, _("Reconciled to the fen: nothing found."))
        return HttpResponseRedirect(reverse("distribution-console:overview") + "#reconciliation")


class CommissionLineList(ConsoleView):
    """Commission lines with their explanation, filtered by distributor, order, status,
    level and dates; 50 a page."""

    FILTERS = ("distributor", "order", "status", "level", "since", "until")

    def get(self, request: HttpRequest) -> HttpResponse:
        from urllib.parse import urlencode

        from django.core.paginator import Paginator
        from django.db.models import F, Sum

        from distribution import selectors
        from distribution.models import CommissionLine

        filters = {k: request.GET.get(k, "").strip()[:40] for k in self.FILTERS}
        found = selectors.commission_lines(filters)
        net = found.aggregate(net=Sum(F("amount") - F("reversed_amount") - F("clawed_back")))["net"] or 0
        page = Paginator(found, 50).get_page(request.GET.get("page"))
        return self.render(
            "distribution/console/commissions.html",
            {
                "lines": [{"line": line, "why": selectors.line_explanation(line)} for line in page.object_list],
                "page": page,
                "total": page.paginator.count,
                "net": net,
                "filters": filters,
                "query": urlencode({k: v for k, v in filters.items() if v}),
                "statuses": CommissionLine.Status.choices,
                "levels": [1, 2, 3],
            },
        )


class MemberBindingPage(ConsoleView):
    """A member's binding history (source, evidence, actor) for disputes, and a re-bind to
    another distributor with a reason (kept in the history)."""

    def _page(
        self, member: Any, errors: dict[str, list[str]] | None = None, data: Any = None, status: int = 200
    ) -> HttpResponse:
        from distribution.models import Binding, BindingEvent

        return self.render(
            "distribution/console/binding.html",
            {
                "member": member,
                "binding": Binding.objects.select_related("distributor__member").filter(member=member).first(),
                "events": BindingEvent.objects.filter(member=member).select_related(
                    "from_distributor__member", "to_distributor__member"
                ),
                "errors": errors or {},
                "data": data or {},
            },
            status=status,
        )

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from shop.members.models import Member

        return self._page(get_object_or_404(Member, pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from distribution import services
        from distribution.models import Distributor
        from shop.members.models import Member

        member = get_object_or_404(Member, pk=pk)
        data = {"code": request.POST.get("code", "").strip()[:12], "reason": request.POST.get("reason", "")[:300]}
        target = Distributor.objects.filter(code=data["code"].upper()).first() if data["code"] else None
        try:
            if target is None:
                raise ValidationError({"code": [_("No distributor has this invite code.")]})
            services.member_rebind(member, target, reason=data["reason"], actor=f"staff:{request.user.pk}")
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"general": exc.messages}
            return self._page(member, errors, data, status=400)
        messages.success(request, _("Re-bound."))
        return HttpResponseRedirect(reverse("distribution-console:member-binding", args=[member.pk]))


class BindingLookup(ConsoleView):
    """Find a member by phone, email or id for a binding dispute: straight to their
    binding history (one match), or the matches to choose from."""

    def get(self, request: HttpRequest) -> HttpResponse:
        from shop.members.models import Member

        q = request.GET.get("q", "").strip()[:60]
        found: list[Any] = []
        if q:
            match = Q(phone=q) | Q(email__iexact=q) | Q(name__icontains=q)
            if q.isascii() and q.isdigit() and len(q) < 12:
                match |= Q(pk=int(q))
            found = list(Member.objects.filter(match).order_by("id")[:20])
            if len(found) == 1:
                return HttpResponseRedirect(reverse("distribution-console:member-binding", args=[found[0].pk]))
        return self.render("distribution/console/binding_lookup.html", {"q": q, "members": found})
