"""After-sales for mini-program and app clients (``/api/v1/``: the member's own) and the
merchant console (``/api/v1/console/aftersales/``, ``/api/v1/console/aftersale-reasons/``).
Amounts are fen; every refused write is a 400 naming the field at fault."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser
from platform_core.api import drf_errors as _drf
from platform_core.api import json_body as _body
from platform_core.scoping import ShopAPIView, ShopViewSet
from shop.aftersales import selectors, services
from shop.aftersales.models import AfterSale, AfterSaleLine, AfterSaleLog, AfterSaleReason
from shop.members.auth import MEMBER_AUTHENTICATION, IsMember
from shop.orders.models import Order
from shop.payments.models import Refund


# --- serializers --------------------------------------------------------------------------
class ReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = AfterSaleReason
        fields = ["id", "name", "position", "is_active"]


class AfterSaleLineSerializer(serializers.ModelSerializer):
    line = serializers.IntegerField(source="order_line_id", read_only=True)
    product_name = serializers.CharField(source="order_line.product_name", read_only=True)
    sku_label = serializers.CharField(source="order_line.sku_label", read_only=True)

    class Meta:
        model = AfterSaleLine
        fields = ["line", "product_name", "sku_label", "quantity", "amount"]


class AfterSaleLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AfterSaleLog
        fields = ["from_status", "to_status", "actor", "note", "at"]


class AfterSaleRefundSerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="payment.provider", read_only=True)

    class Meta:
        model = Refund
        fields = ["id", "provider", "amount", "status", "reference", "failure_message", "created_at"]


class AfterSaleSerializer(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.number", read_only=True)
    reason = ReasonSerializer(read_only=True)
    lines = AfterSaleLineSerializer(many=True, read_only=True)
    log = AfterSaleLogSerializer(many=True, read_only=True)
    refunds = AfterSaleRefundSerializer(many=True, read_only=True)
    refund_state = serializers.SerializerMethodField(help_text="none, pending, succeeded or failed")

    class Meta:
        model = AfterSale
        fields = [
            "id",
            "order",
            "order_number",
            "kind",
            "status",
            "reason",
            "note",
            "refund_amount",
            "shipping_refund",
            "reject_reason",
            "carrier",
            "tracking_number",
            "stock_returned",
            "refund_state",
            "refunds",
            "lines",
            "log",
            "created_at",
            "updated_at",
            "refunded_at",
        ]

    def get_refund_state(self, aftersale: AfterSale) -> str:
        """Honest about money not back yet: an offline refund waits for the merchant."""
        found = {r.status for r in aftersale.refunds.all()}
        for state in (Refund.Status.FAILED, Refund.Status.PENDING, Refund.Status.SUCCEEDED):
            if state in found:
                return str(state)
        return "none"


class RequestLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="an order line id")
    quantity = serializers.IntegerField(min_value=1)


class RequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AfterSale.Kind.choices)
    reason = serializers.IntegerField(help_text="an after-sales reason id")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)
    lines = RequestLineSerializer(many=True)


class ReturnSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=40)
    tracking_number = serializers.CharField(max_length=60)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class RefundRequestSerializer(serializers.Serializer):
    reference = serializers.CharField(
        required=False, allow_blank=True, max_length=120, help_text="offline: how the money was already sent back"
    )


class RefundSentSerializer(serializers.Serializer):
    refund = serializers.IntegerField()
    reference = serializers.CharField(max_length=120)


def _run(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except DjangoValidationError as exc:
        raise _drf(exc) from exc


# --- member side --------------------------------------------------------------------------
class ReasonsAPI(ShopAPIView):
    """The reasons a buyer chooses from."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]

    @extend_schema(responses={200: ReasonSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ReasonSerializer(selectors.reasons(active_only=True), many=True).data)


class OrderAfterSalesAPI(ShopAPIView):
    """Ask for units of one of the member's orders back."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]

    @extend_schema(request=RequestSerializer, responses={201: AfterSaleSerializer})
    def post(self, request: Request, pk: int) -> Response:
        order = get_object_or_404(Order, pk=pk, member=cast(Any, request.user))
        made = _run(lambda: services.aftersale_request(request.user, order, _body(request)))
        return Response(AfterSaleSerializer(selectors.detailed().get(pk=made.pk)).data, status=status.HTTP_201_CREATED)


class MemberAfterSales(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """The member's own after-sales."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]
    serializer_class = AfterSaleSerializer
    queryset = AfterSale.objects.none()  # (for the schema) get_queryset scopes to the member

    def get_queryset(self) -> Any:
        return selectors.detailed().filter(member=cast(Any, self.request.user))

    def _fresh(self, aftersale: AfterSale) -> Response:
        return Response(AfterSaleSerializer(self.get_queryset().get(pk=aftersale.pk)).data)

    @extend_schema(request=None, responses={200: AfterSaleSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        return self._fresh(_run(lambda: services.aftersale_cancel(found, member=request.user)))

    @extend_schema(request=ReturnSerializer, responses={200: AfterSaleSerializer})
    @action(detail=True, methods=["post"], url_path="return")
    def ship_return(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        body = _body(request)
        return self._fresh(
            _run(
                lambda: services.aftersale_ship_return(
                    found, member=request.user, carrier=body.get("carrier"), tracking_number=body.get("tracking_number")
                )
            )
        )


# --- merchant console -------------------------------------------------------------------------
class ConsoleAfterSales(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    permission_classes = [IsConsoleUser]
    serializer_class = AfterSaleSerializer
    queryset = AfterSale.objects.none()

    def get_queryset(self) -> Any:
        found = selectors.detailed()
        wanted = self.request.query_params.get("status")
        return found.filter(status=wanted) if wanted in AfterSale.Status.values else found

    def _actor(self) -> str:
        return f"staff:{cast(Any, self.request.user).pk}"

    def _fresh(self, aftersale: AfterSale) -> Response:
        return Response(AfterSaleSerializer(selectors.detailed().get(pk=aftersale.pk)).data)

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=AfterSale.Status.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: AfterSaleSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        return self._fresh(_run(lambda: services.aftersale_approve(found, actor=self._actor())))

    @extend_schema(request=RejectSerializer, responses={200: AfterSaleSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        reason = _body(request).get("reason")
        try:
            return self._fresh(services.aftersale_reject(found, reason=reason, actor=self._actor()))
        except DjangoValidationError as exc:
            errors = _drf(exc).detail
            if isinstance(errors, dict) and "reject_reason" in errors:
                errors["reason"] = errors.pop("reject_reason")
            raise serializers.ValidationError(errors) from exc

    @extend_schema(request=None, responses={200: AfterSaleSerializer})
    @action(detail=True, methods=["post"])
    def receive(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        return self._fresh(_run(lambda: services.aftersale_receive(found, actor=self._actor())))

    @extend_schema(request=RefundRequestSerializer, responses={200: AfterSaleSerializer})
    @action(detail=True, methods=["post"])
    def refund(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        reference = _body(request).get("reference", "")
        return self._fresh(_run(lambda: services.aftersale_refund(found, actor=self._actor(), reference=reference)))

    @extend_schema(request=RefundSentSerializer, responses={200: AfterSaleSerializer})
    @action(detail=True, methods=["post"], url_path="refund-sent")
    def refund_sent(self, request: Request, pk: str | None = None) -> Response:
        """A pending offline refund's money was sent back: record how."""
        found = self.get_object()
        body = _body(request)
        _run(
            lambda: services.aftersale_refund_sent(
                found, refund=body.get("refund"), reference=body.get("reference"), actor=self._actor()
            )
        )
        return self._fresh(found)


class ConsoleReasons(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """The shop's list of after-sales reasons (deactivate one rather than delete it)."""

    permission_classes = [IsConsoleUser]
    serializer_class = ReasonSerializer
    queryset = AfterSaleReason.objects.none()
    pagination_class = None

    def get_queryset(self) -> Any:
        return selectors.reasons()

    @extend_schema(request=ReasonSerializer, responses={201: ReasonSerializer})
    def create(self, request: Request) -> Response:
        made = _run(lambda: services.reason_save(_body(request)))
        return Response(ReasonSerializer(made).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses={200: ReasonSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        body = {"name": found.name, **_body(request)}
        return Response(ReasonSerializer(_run(lambda: services.reason_save(body, found))).data)
