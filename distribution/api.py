"""Distribution APIs on shop hosts.

* ``/api/v1/distribution/…`` — the distributor centre of the logged-in member (member
  token or storefront session): apply, status and earnings, commission lines with their
  explanation, team by level, "my referrer", binding by invite code, withdrawals.
* ``/api/v1/console/distribution/…`` — the merchant's (console staff): settings,
  distributors and their actions, re-binding with the history, withdrawals queue,
  commission lines.

Bad input answers 400 with field → messages; nothing is written then."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Sum
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from distribution import commission, config, grades, ledger, materials, selectors, services, withdrawals
from distribution.models import (
    Account,
    Binding,
    BindingEvent,
    BindingSource,
    CommissionLine,
    DistributionSettings,
    Distributor,
    Withdrawal,
)
from platform_core.api import IsConsoleUser, drf_errors, json_body
from platform_core.parsing import as_id
from platform_core.scoping import ShopAPIView
from shop.members.auth import MEMBER_AUTHENTICATION, IsMember
from shop.members.models import Member

TAGS = ["distribution"]


# --- serialisation --------------------------------------------------------------------------


def distributor_data(d: Distributor, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": d.pk,
        "member": d.member_id,
        "status": d.status,
        "status_label": str(d.get_status_display()),
        "grade": d.grade.name if d.grade_id and d.grade else None,
        "parent": d.parent_id,
        "code": d.code,
        "joined_at": d.joined_at,
        "created_at": d.created_at,
    }
    if full:
        data["application"] = d.application
        data["note"] = d.note
        data["balances"] = ledger.balances(d.pk)
        data["team"] = services.team_sizes(d)
    return data


def line_data(line: CommissionLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "order": line.order_id,
        "order_line": line.order_line_id,
        "distributor": line.distributor_id,
        "level": line.level,
        "amount": line.amount,
        "reversed": line.reversed_amount,
        "clawed_back": line.clawed_back,
        "net": line.net,
        "status": line.status,
        "explanation": line.explanation(),
        "created_at": line.created_at,
        "settled_at": line.settled_at,
    }


def withdrawal_data(w: Withdrawal, *, debt: bool = False) -> dict[str, Any]:
    data = {
        "id": w.pk,
        "distributor": w.distributor_id,
        "amount": w.amount,
        "fee": w.fee,
        "net": w.net,
        "method": w.method,
        "status": w.status,
        "reference": w.reference,
        "reason": w.reason,
        "created_at": w.created_at,
    }
    if debt:  # the console: what the distributor owes, and the merchant's decision about it
        data["debt"] = withdrawals.debt_of(w.distributor_id)
        data["debt_decision"] = w.debt_decision
    return data


def event_data(e: BindingEvent) -> dict[str, Any]:
    return {
        "from": e.from_distributor_id,
        "to": e.to_distributor_id,
        "source": e.source,
        "source_label": str(BindingSource(e.source).label),
        "evidence": e.evidence,
        "actor": e.actor,
        "at": e.at,
    }


def _page(view: ShopAPIView, request: Request, queryset: Any, render: Any) -> Response:
    paginator = PageNumberPagination()
    page: list[Any] | None = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([render(x) for x in page or []])


# --- member side ----------------------------------------------------------------------------


class MemberAPI(ShopAPIView):
    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]

    @property
    def member(self) -> Member:
        return cast(Member, self.request.user)

    def distributor(self) -> Distributor:
        found = Distributor.objects.select_related("grade").filter(member=self.member).first()
        if found is None:
            raise Http404("not a distributor")
        return found


class ReferrerAPI(MemberAPI):
    """My referrer: the distributor I am bound to (and since when, until when)."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        binding = services.valid_binding(self.member)
        if binding is None:
            return Response({"referrer": None})
        d = binding.distributor
        return Response(
            {
                "referrer": {"code": d.code, "name": d.member.display_name},
                "source": binding.source,
                "since": binding.since,
                "expires_at": binding.expires_at,
            }
        )


class BindAPI(MemberAPI):
    """Bind to a distributor by their invite code (the shop's binding rule applies)."""

    @extend_schema(request=dict, responses={200: dict}, tags=TAGS)
    def post(self, request: Request) -> Response:
        code = json_body(request).get("code")
        target = services.code_distributor(code)
        if target is None:
            raise drf_errors(DjangoValidationError({"code": [_("No active distributor has this code.")]}))
        binding = services.bind(
            self.member,
            target,
            source=BindingSource.INVITE_CODE,
            evidence={"code": target.code},
            actor=f"member:{self.member.pk}",
        )
        return Response({"bound": binding is not None})


class CentreAPI(MemberAPI):
    """My distributor status, earnings and team sizes; ``POST`` applies."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        settings = DistributionSettings.current()
        found = Distributor.objects.select_related("grade").filter(member=self.member).first()
        data: dict[str, Any] = {
            "enabled": settings.enabled,
            "qualification": settings.qualification,
            "application_fields": settings.application_fields,
            "agreement_text": settings.agreement_text,
            "distributor_label": settings.distributor_label,
            "commission_label": settings.commission_label,
            "distributor": None,
        }
        if found is not None:
            balances = ledger.balances(found.pk)
            data["distributor"] = distributor_data(found)
            data["earnings"] = {
                "pending": balances[Account.PENDING],
                "available": balances[Account.AVAILABLE],
                "withdrawing": balances[Account.WITHDRAWING],
                "paid_out": balances[Account.PAID_OUT],
                "clawback_debt": -balances[Account.CLAWBACK_DEBT],
            }
            data["team"] = services.team_sizes(found)
        return Response(data)

    @extend_schema(request=dict, responses={201: dict}, tags=TAGS)
    def post(self, request: Request) -> Response:
        body = json_body(request)
        try:
            made = services.distributor_apply(
                self.member,
                body.get("answers"),
                agreement_accepted=body.get("agreement_accepted"),
                invite_code=body.get("invite_code"),
            )
        except DjangoValidationError as exc:
            raise drf_errors(exc) from exc
        return Response(distributor_data(made), status=201)


class CommissionsAPI(MemberAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        lines = CommissionLine.objects.filter(distributor=self.distributor()).order_by("-id")
        return _page(self, request, lines, line_data)


class TeamAPI(MemberAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        me = self.distributor()
        found = grades.figures(me) if me.path else {"own_sales": 0, "team_sales": 0, "direct_invitees": 0}
        return Response({"levels": services.team_sizes(me), "direct": found["direct_invitees"], **found})


class OrdersAPI(MemberAPI):
    """Orders that earned me commission, newest first, with what each earned me."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        rows = (
            CommissionLine.objects.filter(distributor=self.distributor())
            .values("order_id", "order__number", "order__created_at", "order__status")
            .annotate(commission=Sum("amount"), taken_back=Sum(F("reversed_amount") + F("clawed_back")))
            .order_by("-order_id")
        )
        return _page(
            self,
            request,
            rows,
            lambda r: {
                "order": r["order_id"],
                "number": r["order__number"],
                "created_at": r["order__created_at"],
                "status": r["order__status"],
                "commission": r["commission"],
                "net": r["commission"] - r["taken_back"],
            },
        )


class WithdrawalsAPI(MemberAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        return _page(self, request, Withdrawal.objects.filter(distributor=self.distributor()), withdrawal_data)

    @extend_schema(request=dict, responses={201: dict}, tags=TAGS)
    def post(self, request: Request) -> Response:
        me = self.distributor()
        try:
            made = withdrawals.withdrawal_request(me, json_body(request))
        except DjangoValidationError as exc:
            raise drf_errors(exc) from exc
        return Response(withdrawal_data(made), status=201)


# --- console side ---------------------------------------------------------------------------


class ConsoleAPI(ShopAPIView):
    permission_classes = [IsConsoleUser]


class IsOwnerForWrites(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(getattr(request.user, "is_owner", False))


class ConsoleSettingsAPI(ConsoleAPI):
    """Every distribution knob. ``PUT`` takes any subset (lists replace); all are checked."""

    permission_classes = [IsConsoleUser, IsOwnerForWrites]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response(config.settings_data(self.shop))

    @extend_schema(request=dict, responses={200: dict}, tags=TAGS)
    def put(self, request: Request) -> Response:
        try:
            config.settings_update(self.shop, json_body(request))
        except DjangoValidationError as exc:
            raise drf_errors(exc) from exc
        return Response(config.settings_data(self.shop))


class ConsoleDistributorsAPI(ConsoleAPI):
    @extend_schema(responses={200: dict}, tags=TAGS, operation_id="v1_console_distribution_distributors_list")
    def get(self, request: Request) -> Response:
        found = Distributor.objects.select_related("grade").order_by("-id")
        status = request.query_params.get("status")
        if status:
            found = found.filter(status=status)
        q = (request.query_params.get("q") or "").strip()
        if q:
            found = found.filter(code=q.upper()) | found.filter(member__phone=q) | found.filter(member__email=q.lower())
        return _page(self, request, found, distributor_data)


def _distributor(pk: Any) -> Distributor:
    return get_object_or_404(Distributor.objects.select_related("grade"), pk=as_id(pk) or 0)


class ConsoleDistributorAPI(ConsoleAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        return Response(distributor_data(_distributor(pk), full=True))

    @extend_schema(request=dict, responses={200: dict}, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        """``{"action": "approve"|"reject"|"freeze"|"unfreeze"|"ban", "note": …}`` or ``{"grade": id|null}``."""
        found = _distributor(pk)
        body = json_body(request)
        try:
            if "grade" in body:
                found = services.distributor_set_grade(self.shop, found, body.get("grade"))
            else:
                found = services.distributor_action(found, str(body.get("action") or ""), note=body.get("note"))
        except DjangoValidationError as exc:
            raise drf_errors(exc) from exc
        return Response(distributor_data(found, full=True))


class ConsoleMemberBindingAPI(ConsoleAPI):
    """A member's binding history (for disputes); ``POST`` re-binds with a reason."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        member = get_object_or_404(Member, pk=pk)
        binding = Binding.objects.filter(member=member).first()
        return Response(
            {
                "current": binding.distributor_id if binding else None,
                "expires_at": binding.expires_at if binding else None,
                "events": [event_data(e) for e in BindingEvent.objects.filter(member=member)],
            }
        )

    @extend_schema(request=dict, responses={200: dict}, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        member = get_object_or_404(Member, pk=pk)
        body = json_body(request)
        target = Distributor.objects.filter(pk=as_id(body.get("distributor")) or 0).first()
        if target is None:
            raise drf_errors(DjangoValidationError({"distributor": [_("Choose one of the shop's distributors.")]}))
        try:
            services.member_rebind(member, target, reason=body.get("reason"), actor=f"staff:{request.user.pk}")
        except DjangoValidationError as exc:
            raise drf_errors(exc) from exc
        return self.get(request, pk)


class ConsoleCommissionsAPI(ConsoleAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        found = selectors.commission_lines(request.query_params)
        return _page(self, request, found, line_data)


class ConsoleWithdrawalsAPI(ConsoleAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        found = Withdrawal.objects.order_by("-id")
        status = request.query_params.get("status")
        if status:
            found = found.filter(status=status)
        return _page(self, request, found, lambda w: withdrawal_data(w, debt=True))


class ConsoleWithdrawalAPI(ConsoleAPI):
    @extend_schema(request=dict, responses={200: dict}, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        """``{"action": "approve"|"reject"|"paid"|"failed", "reason": …, "reference": …}``; while the
        distributor owes a clawback debt, paying needs ``{"action": "debt", "decision":
        "reduce"|"hold"|"pay_anyway", "reason": …}`` first (a reason is required to pay anyway)."""
        found = get_object_or_404(Withdrawal, pk=pk)
        body = json_body(request)
        actor = f"staff:{request.user.pk}"
        action = body.get("action")
        try:
            if action in ("approve", "reject"):
                found = withdrawals.withdrawal_review(
                    found, approve=action == "approve", actor=actor, reason=body.get("reason")
                )
            elif action == "paid" and found.method == Withdrawal.Method.STRIPE_CONNECT:
                found = withdrawals.withdrawal_payout_stripe(found, actor=actor)
            elif action == "paid":
                found = withdrawals.withdrawal_paid(found, reference=body.get("reference"), actor=actor)
            elif action == "failed":
                found = withdrawals.withdrawal_failed(found, reason=body.get("reason"), actor=actor)
            elif action == "debt":
                found = withdrawals.withdrawal_debt_decide(
                    found, decision=body.get("decision"), reason=body.get("reason"), actor=actor
                )
            else:
                raise DjangoValidationError({"action": [_("Choose approve, reject, paid, failed or debt.")]})
        except DjangoValidationError as exc:
            raise drf_errors(exc) from exc
        return Response(withdrawal_data(found, debt=True))


class ConsoleReconciliationAPI(ConsoleAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        """The latest money reconciliation of this shop (nightly): ``{"checked_at",
        "problems", "findings": [{"code", "subject", "figures", "message"}], "more"}`` (null
        ``checked_at`` and ``problems``: not checked yet)."""
        from distribution.console import reconciliation_view
        from platform_core.tenancy import current_schema

        found = reconciliation_view(current_schema())
        return Response(found or {"checked_at": None, "problems": None, "findings": [], "more": 0})

    @extend_schema(request=None, responses={200: dict}, tags=TAGS)
    def post(self, request: Request) -> Response:
        """Run it now."""
        from distribution import verify
        from distribution.console import reconciliation_view
        from platform_core.tenancy import current_schema

        verify.verify_and_record()
        return Response(reconciliation_view(current_schema()))


class ConsoleFlagsAPI(ConsoleAPI):
    """Compliance and fraud flags for the merchant to look at (nothing is blocked)."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response({"flags": selectors.fraud_flags()})


class PreviewAPI(ShopAPIView):
    """What sharing this product earns (level 1, per unit), shown on product pages to
    whom the shop chose: everyone, or its active distributors only."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        from shop.catalogue.models import Product

        settings = DistributionSettings.current()
        product = get_object_or_404(Product, pk=pk, status=Product.Status.ON_SALE)
        member = request.user if isinstance(request.user, Member) else None
        me = (
            Distributor.objects.select_related("grade").filter(member=member, status=Distributor.Status.ACTIVE).first()
            if member
            else None
        )
        audience = settings.preview_audience
        shown = settings.enabled and (
            audience == DistributionSettings.Preview.EVERYONE
            or (audience == DistributionSettings.Preview.DISTRIBUTORS and me is not None)
        )
        if not shown:
            return Response({"shown": False, "skus": []})
        return Response(
            {"shown": True, "commission_label": settings.commission_label, "skus": commission.preview(product, me)}
        )


# --- promotion materials ------------------------------------------------------------------


class MaterialsAPI(MemberAPI):
    """An active distributor's share link and QR code for the whole shop (materials for
    one product: ``products/<pk>/``)."""

    def sharer(self) -> Distributor:
        if not DistributionSettings.current().enabled:
            raise Http404("distribution is off")
        me = self.distributor()
        if not me.is_active:
            raise Http404("not an active distributor")
        return me

    def origin(self, request: Request) -> dict[str, str]:
        return {"host": request.get_host(), "scheme": request.scheme or "https"}

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        me = self.sharer()
        origin = self.origin(request)
        shared = selectors.share_data(me, host=origin["host"], scheme=origin["scheme"])
        return Response({**shared, "scene": materials.scene(me.code)})


def _png(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


class MaterialsQrAPI(MaterialsAPI):
    """The shop's share link as a QR code (PNG)."""

    @extend_schema(responses={(200, "image/png"): bytes}, tags=TAGS)
    def get(self, request: Request) -> HttpResponse:  # type: ignore[override]
        me = self.sharer()
        link = materials.share_url(request.get_host(), code=me.code, source="qr", scheme=request.scheme or "https")
        return _png(materials.qr_png(link))


def _on_sale(pk: int) -> Any:
    from shop.catalogue.models import Product

    return get_object_or_404(Product, pk=pk, status=Product.Status.ON_SALE)


def product_poster_url(shop: Any, me: Distributor, product: Any, *, host: str, scheme: str) -> str:
    """The URL of ``me``'s poster of ``product``, rendered on a miss and cached in the
    shop's storage (``materials.poster_for``); a changed product gets a new poster."""
    settings = DistributionSettings.current()
    facts = materials.product_facts(product)
    spec = materials.PosterSpec(
        shop_name=shop.name,
        qr_url=materials.share_url(host, code=me.code, product_id=product.pk, source="poster", scheme=scheme),
        currency="CNY",
        distributor_code=me.code,
        distributor_name=me.member.display_name,
        labels=materials.poster_labels(distributor_word=settings.distributor_word),
        **facts,
    )
    return materials.product_poster(spec, product_image=lambda: materials.read_file(facts["product_image_key"]))


class ProductMaterialsAPI(MaterialsAPI):
    """One product's share link, QR code (PNG URL) and poster (URL of the cached image)."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:  # type: ignore[override]
        me = self.sharer()
        product = _on_sale(pk)
        origin = self.origin(request)
        shared = selectors.share_data(me, product_id=product.pk, host=origin["host"], scheme=origin["scheme"])
        try:
            poster = product_poster_url(self.shop, me, product, **origin)
        except materials.FontNotFound:
            poster = ""
        return Response(
            {
                "product": product.pk,
                "code": me.code,
                "link": shared["link"],
                "scene": materials.scene(me.code, product.pk),
                "qr": shared["qr"],
                "poster": poster,
            }
        )


class ProductQrAPI(MaterialsAPI):
    @extend_schema(responses={(200, "image/png"): bytes}, tags=TAGS)
    def get(self, request: Request, pk: int) -> HttpResponse:  # type: ignore[override]
        me = self.sharer()
        product = _on_sale(pk)
        link = materials.share_url(
            request.get_host(), code=me.code, product_id=product.pk, source="qr", scheme=request.scheme or "https"
        )
        return _png(materials.qr_png(link))


class ProductPosterAPI(MaterialsAPI):
    """Redirects to the cached poster (the storefront's "poster" button)."""

    @extend_schema(responses={302: None}, tags=TAGS)
    def get(self, request: Request, pk: int) -> HttpResponse:  # type: ignore[override]
        me = self.sharer()
        product = _on_sale(pk)
        try:
            url = product_poster_url(self.shop, me, product, **self.origin(request))
        except materials.FontNotFound as exc:
            raise Http404("no font for posters") from exc
        return HttpResponseRedirect(url)


# --- rankings and the overview --------------------------------------------------------------


def _period(request: Request) -> str:
    period = str(request.query_params.get("period") or "month")
    return period if period in selectors.PERIODS else "month"


class RankingsAPI(MemberAPI):
    """Top distributors by sales in a period (``?period=month|week|30d|all``); other
    distributors' names are masked, mine is marked."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        me = self.distributor()
        period = _period(request)
        rows = selectors.rankings(selectors.period_start(period), limit=20)
        return Response(
            {
                "period": period,
                "rankings": [
                    {
                        "rank": r["rank"],
                        "name": r["name"] if r["distributor"] == me.pk else selectors.mask_name(r["name"]),
                        "sales": r["sales"],
                        "orders": r["orders"],
                        "me": r["distributor"] == me.pk,
                    }
                    for r in rows
                ],
            }
        )


class ConsoleOverviewAPI(ConsoleAPI):
    """GMV via distributors, commission by state, distributors by status, top
    distributors and the number of flags (``?period=month|week|30d|all``)."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        period = _period(request)
        return Response({"period": period, **selectors.overview(selectors.period_start(period))})


class ConsoleRankingsAPI(ConsoleAPI):
    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        period = _period(request)
        limit = as_id(request.query_params.get("limit")) or 20
        return Response({"period": period, "rankings": selectors.rankings(selectors.period_start(period), limit=limit)})


class CentreSummaryAPI(MemberAPI):
    """The whole distributor centre in one answer (what the storefront's page shows, for
    mini-program clients): words, status, application form, earnings, commission lines
    with their explanation, team by level, orders brought in, referrer, share link,
    withdrawals with their progress, this month's ranking."""

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response(
            selectors.centre_summary(self.member, host=request.get_host(), scheme=request.scheme or "https")
        )
