"""Flash sales and group buying over the API, gated by the shop's ``flash_sales`` and
``group_buying`` features. Members (``/api/v1/marketing/``): the flash sessions running now
and next (prices, remaining activity stock, countdowns); group deals, the open groups of
a deal, a group by its share link, opening (the leader's order) and joining (an order
carrying the group), my groups. Console (``/api/v1/console/marketing/``): flash sessions
(create, end, results), group deals (create, end, their groups), the flash payment time.
Amounts are fen. An order that cannot be placed answers 409 with a ``code``:
``flash_sold_out``, ``group_full`` / ``group_closed`` (``details.deal``: open a new group
of it instead), or the order service's own codes."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_core.api import IsConsoleUser
from platform_core.api import drf_errors as _drf
from platform_core.api import json_body as _body
from platform_core.features import require_feature
from platform_core.scoping import ShopAPIView, ShopViewSet
from shop.marketing import flash, groups
from shop.marketing.models import FlashSession, Group, GroupDeal, GroupMember, MarketingSettings
from shop.members.auth import MEMBER_AUTHENTICATION, IsMember
from shop.orders import services as orders
from shop.orders.api import OrderSerializer


def feature_gate(key: str) -> type[permissions.BasePermission]:
    """The shop must have ``key`` (403 with the upgrade hint). On a view of one object the
    check runs once the object was found, so another shop's id is a 404 like anywhere."""

    class FeatureGate(permissions.BasePermission):
        def has_permission(self, request: Request, view: APIView) -> bool:
            if "pk" not in getattr(view, "kwargs", {}):
                require_feature(request.tenant, key)  # type: ignore[attr-defined]
            return True

        def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
            require_feature(request.tenant, key)  # type: ignore[attr-defined]
            return True

    FeatureGate.__name__ = f"FeatureGate_{key}"
    return FeatureGate


def _service(work: Any) -> Any:
    try:
        return work()
    except DjangoValidationError as exc:
        raise _drf(exc) from exc


def _order_answer(work: Any) -> Response:
    try:
        order = _service(work)
    except orders.OrderRefused as exc:
        return Response(
            {"code": exc.code, "detail": exc.message, "details": exc.details}, status=status.HTTP_409_CONFLICT
        )
    found = GroupMember.objects.filter(order_id=order.pk).select_related("group").first()
    return Response(
        {"order": OrderSerializer(order).data, "group": found.group_id if found else None},
        status=status.HTTP_201_CREATED,
    )


# --- members: flash sales ------------------------------------------------------------------
class FlashSales(ShopAPIView):
    """The sessions running now and the next ones: items with the SKU's price, the flash
    price, remaining activity stock, per-member limit; countdown in seconds (to the end of
    a running session, to the start of an upcoming one)."""

    permission_classes = [permissions.AllowAny, feature_gate("flash_sales")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(flash.storefront_sessions())


# --- members: group buying -------------------------------------------------------------------
class GroupDeals(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """Running group deals; a deal's open groups (to join); ``open``: become the leader of a
    new group by ordering ``{"sku", "quantity", "fulfilment", "address" | "store", "note"}``
    at the group price (the group opens when this order is paid)."""

    authentication_classes = MEMBER_AUTHENTICATION
    queryset = GroupDeal.objects.none()

    def get_permissions(self) -> list[permissions.BasePermission]:
        first: permissions.BasePermission = IsMember() if self.action == "open" else permissions.AllowAny()
        return [first, feature_gate("group_buying")()]

    def get_queryset(self) -> Any:
        return groups.running_deals().prefetch_related("items__sku__product").order_by("ends_at", "id")

    @extend_schema(responses={200: dict}, operation_id="v1_marketing_group_deals_list")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response([groups.deal_row(d) for d in self.get_queryset()[:100]])

    @extend_schema(responses={200: dict})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        deal = self.get_object()
        return Response(
            {**groups.deal_row(deal), "open_groups": [groups.group_row(g) for g in groups.joinable_groups(deal)[:20]]}
        )

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="groups")
    def open_groups(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        return Response([groups.group_row(g) for g in groups.joinable_groups(deal)[:50]])

    @extend_schema(request=dict, responses={201: dict, 409: dict})
    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> Response:
        deal, body = self.get_object(), _body(request)
        return _order_answer(lambda: groups.group_open(cast(Any, request.user), deal, body))


class Groups(mixins.RetrieveModelMixin, ShopViewSet):
    """A group by its share link (``/…?group=<id>``): progress, members, countdown.
    ``join``: an order ``{"sku", "quantity", "fulfilment", "address" | "store"}`` carrying
    the group; 409 ``group_full`` / ``group_closed`` offers to open a new group of
    ``details.deal``."""

    authentication_classes = MEMBER_AUTHENTICATION
    queryset = Group.objects.none()

    def get_permissions(self) -> list[permissions.BasePermission]:
        first: permissions.BasePermission = IsMember() if self.action == "join" else permissions.AllowAny()
        return [first, feature_gate("group_buying")()]

    def get_queryset(self) -> Any:
        return groups.visible(Group.objects.select_related("leader", "deal").prefetch_related("members__member"))

    @extend_schema(responses={200: dict})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self.get_object()
        return Response({**groups.group_row(group), "deal_detail": groups.deal_row(group.deal)})

    @extend_schema(request=dict, responses={201: dict, 409: dict})
    @action(detail=True, methods=["post"])
    def join(self, request: Request, pk: str | None = None) -> Response:
        group, body = self.get_object(), _body(request)
        return _order_answer(lambda: groups.group_join(cast(Any, request.user), group, body))


class MyGroups(ShopAPIView):
    """The member's groups, newest first, with each group's progress and their order."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember, feature_gate("group_buying")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        rows = groups.member_groups(cast(Any, request.user))[:100]
        return Response(
            [
                {**groups.group_row(m.group), "order": m.order_id, "my_status": m.status, "leader_me": m.is_leader}
                for m in rows
            ]
        )


# --- console ------------------------------------------------------------------------------
class _Console(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    feature = ""
    slug = ""

    def get_permissions(self) -> list[permissions.BasePermission]:
        return [IsConsoleUser(), feature_gate(self.feature)()]

    def row(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self.row(obj) for obj in page or []])

    @extend_schema(responses={200: dict})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.row(self.get_object()))


class ConsoleFlashSales(_Console):
    """Flash sessions: create ``{"name", "starts_at", "ends_at", "items": [{"sku", "price",
    "stock", "per_member_limit"}]}`` (the activity stock comes out of the SKU's stock: at
    most what it has now), end, and results (orders, units)."""

    feature = "flash_sales"
    queryset = FlashSession.objects.prefetch_related("items__sku__product").order_by("-starts_at", "-id")

    @extend_schema(responses={200: dict}, operation_id="v1_console_marketing_flash_sales_list")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def row(self, obj: Any) -> dict[str, Any]:
        return {**flash.session_row(obj, timezone.now()), "results": flash.session_results(obj)}

    @extend_schema(request=dict, responses={201: dict})
    def create(self, request: Request) -> Response:
        body = _body(request)
        session = _service(lambda: flash.session_create(body))
        return Response(self.row(self.get_queryset().get(pk=session.pk)), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        session = flash.session_end(self.get_object())
        return Response(self.row(self.get_queryset().get(pk=session.pk)))


class ConsoleGroupDeals(_Console):
    """Group deals: create ``{"name", "size", "hours", "simulate_on_expiry", "starts_at",
    "ends_at", "items": [{"sku", "price"}]}``, end, their groups and success rate."""

    feature = "group_buying"
    queryset = GroupDeal.objects.prefetch_related("items__sku__product").order_by("-starts_at", "-id")

    @extend_schema(responses={200: dict}, operation_id="v1_console_marketing_group_deals_list")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def row(self, obj: Any) -> dict[str, Any]:
        return {**groups.deal_row(obj), "results": groups.group_results(obj)}

    @extend_schema(request=dict, responses={201: dict})
    def create(self, request: Request) -> Response:
        body = _body(request)
        deal = _service(lambda: groups.deal_create(body))
        return Response(self.row(self.get_queryset().get(pk=deal.pk)), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        deal = groups.deal_end(self.get_object())
        return Response(self.row(self.get_queryset().get(pk=deal.pk)))

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="groups")
    def deal_groups(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        return Response([groups.group_row(g) for g in groups.deal_groups(deal)[:200]])


class ConsoleMarketingSettings(ShopAPIView):
    """``flash_pay_minutes``: how long a flash-sale order stays unpaid before its units go
    back to the session (1–120, default 5)."""

    permission_classes = [IsConsoleUser, feature_gate("flash_sales")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response({"flash_pay_minutes": MarketingSettings.current().flash_pay_minutes})

    @extend_schema(request=dict, responses={200: dict})
    def patch(self, request: Request) -> Response:
        body = _body(request)
        found = _service(lambda: flash.settings_save(body))
        return Response({"flash_pay_minutes": found.flash_pay_minutes})
