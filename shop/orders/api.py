"""Cart, checkout and orders for mini-program and app clients (``/api/v1/``), and the
merchant console's order actions (``/api/v1/console/orders/``). Amounts are fen."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser
from platform_core.api import drf_errors as _drf
from platform_core.api import json_body as _body
from platform_core.scoping import ShopAPIView, ShopViewSet
from shop.checkout import services as checkout
from shop.checkout.models import Cart, CartItem
from shop.members.auth import MEMBER_AUTHENTICATION, IsMember
from shop.orders import services
from shop.orders.models import Order, OrderLine, OrderLog
from shop.payments import api as payments_api
from shop.payments import services as payments

CART_HEADER = "X-Cart-Token"


def _refused(exc: services.OrderRefused) -> Response:
    code = status.HTTP_422_UNPROCESSABLE_ENTITY if exc.code == "idempotency_mismatch" else status.HTTP_409_CONFLICT
    return Response({"code": exc.code, "detail": exc.message, "details": exc.details}, status=code)


# --- serializers --------------------------------------------------------------------------
class CartItemSerializer(serializers.ModelSerializer):
    product = serializers.CharField(source="sku.product.name", read_only=True)
    price = serializers.IntegerField(source="sku.price", read_only=True)
    stock = serializers.IntegerField(source="sku.stock", read_only=True)

    class Meta:
        model = CartItem
        fields = ["id", "sku", "product", "quantity", "price", "price_when_added", "stock"]


class LineSerializer(serializers.ModelSerializer):
    refundable_amount = serializers.SerializerMethodField(
        help_text="fen still refundable for this line: paid, less refunded (pending refunds count) and what "
        "open after-sales hold"
    )
    refundable_quantity = serializers.SerializerMethodField(help_text="units that can still be asked back")

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "sku",
            "product_name",
            "sku_label",
            "quantity",
            "unit_price",
            "list_price",
            "activity_discount",
            "promotion_share",
            "coupon_share",
            "amount_paid",
            "refunded_amount",
            "refunded_quantity",
            "refundable_amount",
            "refundable_quantity",
        ]

    @extend_schema_field(int)
    def get_refundable_amount(self, line: OrderLine) -> int:
        return int(getattr(line, "free_amount", line.refundable_amount))

    @extend_schema_field(int)
    def get_refundable_quantity(self, line: OrderLine) -> int:
        return int(getattr(line, "free_units", line.refundable_quantity))


class LogSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLog
        fields = ["from_status", "to_status", "actor", "note", "at"]


class OrderSerializer(serializers.ModelSerializer):
    lines = LineSerializer(many=True, read_only=True)
    log = LogSerializer(many=True, read_only=True)
    pickup_code = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "status",
            "fulfilment",
            "currency",
            "goods_total",
            "discount_total",
            "shipping_fee",
            "payable",
            "amount_paid",
            "shipping_refunded",
            "address",
            "store",
            "pickup_code",
            "note",
            "carrier",
            "tracking_number",
            "pay_by",
            "created_at",
            "paid_at",
            "shipped_at",
            "delivered_at",
            "completed_at",
            "cancelled_at",
            "cancel_reason",
            "lines",
            "log",
        ]

    def get_pickup_code(self, order: Order) -> str:
        return order.pickup_code if order.status == Order.Status.READY_FOR_PICKUP else ""

    def to_representation(self, order: Order) -> Any:
        """Each line's refundable figures, open after-sales' holds taken out."""
        from shop.payments import allocation

        paid = order.paid_at is not None and order.status != Order.Status.UNPAID
        held = allocation.claims(order) if paid else {}
        for line in order.lines.all():
            left = allocation.LineLeft(line, *held.get(line.pk, (0, 0)))
            # nothing is refundable of an order never paid
            line.free_amount, line.free_units = (left.amount, left.units) if paid else (0, 0)  # type: ignore[attr-defined]
        return super().to_representation(order)


class PlaceOrderSerializer(serializers.Serializer):
    fulfilment = serializers.ChoiceField(choices=Order.Fulfilment.choices)
    address = serializers.IntegerField(required=False, help_text="the member's address id (delivery)")
    store = serializers.IntegerField(required=False, help_text="a pickup store id (pickup)")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)
    expected_payable = serializers.IntegerField(required=False, help_text="the total the buyer saw; 409 if it changed")
    coupon = serializers.IntegerField(required=False, help_text="one of the member's coupons (member coupon id)")


def _quote_payload(found: checkout.Quote) -> dict[str, Any]:
    offers = found.marketing.offers if found.marketing else {}
    return {
        "lines": [
            {
                "sku": line.sku.pk,
                "product": line.sku.product.name,
                "quantity": line.quantity,
                "unit_price": line.sku.price,
                "list_price": line.sku.list_price,
                "price_when_added": line.price_when_added,
                "activity": (
                    {
                        "kind": p.activity.kind,
                        "id": p.activity.id,
                        "name": offers[line.sku.pk].name if line.sku.pk in offers else "",
                        "unit_price": p.activity.unit_price,
                        "ends_at": offers[line.sku.pk].ends_at if line.sku.pk in offers else None,
                    }
                    if p.activity
                    else None
                ),
                "activity_discount": p.activity_discount,
                "promotion_share": p.promotion_share,
                "coupon_share": p.coupon_share,
                "amount_paid": p.amount_paid,
            }
            for line, p in zip(found.lines, found.priced.lines, strict=True)
        ],
        "promotion": (
            {"id": found.priced.promotion.id, "name": found.priced.promotion.name} if found.priced.promotion else None
        ),
        "coupon": (
            {
                "id": found.priced.coupon.id,
                "applied": found.priced.coupon_applied,
                "problem": found.priced.coupon_problem,
            }
            if found.priced.coupon
            else None
        ),
        "goods_total": found.priced.goods_total,
        "discount_total": found.priced.discount_total,
        "shipping": found.priced.shipping,
        "payable": found.payable,
        "steps": found.priced.steps,
        "problems": found.problems,
        "changes": found.changes,
    }


# --- member side --------------------------------------------------------------------------
class MemberShopView(ShopAPIView):
    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]


def _member_cart(request: Request) -> Cart:
    return checkout.cart_for_member(request.user)


class CartAPI(MemberShopView):
    """The member's cart, priced now (with what changed since items were added)."""

    @extend_schema(parameters=[OpenApiParameter("fulfilment", str, enum=["delivery", "pickup"])], responses={200: dict})
    def get(self, request: Request) -> Response:
        cart = _member_cart(request)
        found = checkout.cart_quote(
            cart, fulfilment=request.query_params.get("fulfilment", "pickup"), member=request.user
        )
        items = CartItemSerializer(cart.items.select_related("sku__product"), many=True).data
        return Response({"items": items, "quote": _quote_payload(found)})


class CartItemsAPI(MemberShopView):
    @extend_schema(
        request={
            "application/json": {
                "type": "object",
                "properties": {"sku": {"type": "integer"}, "quantity": {"type": "integer"}},
            }
        },
        responses={201: CartItemSerializer},
    )
    def post(self, request: Request) -> Response:
        body = _body(request)
        try:
            item = checkout.cart_add(_member_cart(request), body.get("sku"), body.get("quantity", 1))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(CartItemSerializer(item).data, status=status.HTTP_201_CREATED)


class CartItemAPI(MemberShopView):
    @extend_schema(
        request={"application/json": {"type": "object", "properties": {"quantity": {"type": "integer"}}}},
        responses={200: CartItemSerializer},
    )
    def patch(self, request: Request, pk: int) -> Response:
        cart = _member_cart(request)
        get_object_or_404(CartItem, cart=cart, pk=pk)
        try:
            item = checkout.cart_set_quantity(cart, pk, _body(request).get("quantity"))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(CartItemSerializer(item).data if item else {}, status=200)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(CartItem, cart=_member_cart(request), pk=pk)
        item.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuoteAPI(MemberShopView):
    @extend_schema(request=PlaceOrderSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        body = _body(request)
        province = None
        if body.get("fulfilment") == "delivery" and body.get("address") is not None:
            try:
                province = services._address_snapshot(request.user, body.get("address"))["province"]
            except DjangoValidationError as exc:
                raise _drf(exc) from exc
        try:
            found = checkout.cart_quote(
                _member_cart(request),
                fulfilment=str(body.get("fulfilment") or "pickup"),
                province=province,
                member=request.user,
                coupon=body.get("coupon"),
            )
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(_quote_payload(found))


class MemberOrders(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """The member's own orders. Placing one orders the whole cart; send ``Idempotency-Key``
    to make a retried request return the first order."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]
    serializer_class = OrderSerializer
    queryset = Order.objects.none()  # (for the schema) get_queryset scopes to the member

    def get_queryset(self) -> Any:
        return Order.objects.filter(member=cast(Any, self.request.user)).prefetch_related("lines", "log")

    @extend_schema(
        request=PlaceOrderSerializer,
        responses={201: OrderSerializer, 409: dict},
        parameters=[OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER)],
    )
    def create(self, request: Request) -> Response:
        serializer = PlaceOrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        items = [(i.sku_id, i.quantity, i.price_when_added) for i in checkout.member_cart_items(request.user)]
        try:
            order = services.order_create(
                request.user,
                items=items,
                fulfilment=data["fulfilment"],
                address_id=data.get("address"),
                store_id=data.get("store"),
                note=data.get("note", ""),
                expected_payable=data.get("expected_payable"),
                idempotency_key=request.headers.get("Idempotency-Key"),
                coupon=data.get("coupon"),
            )
        except services.OrderRefused as exc:
            return _refused(exc)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        checkout.member_cart_clear_skus(request.user, [line.sku_id for line in order.lines.all()])
        # order_create hands the order back with its lines and log: shown without a query
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        try:
            services.order_cancel(order, actor=f"member:{order.member_id}", reason="cancelled by the buyer")
        except services.TransitionRefused as exc:
            raise serializers.ValidationError(
                {"status": [f"An order that is {exc.order.status} cannot be cancelled."]}
            ) from exc
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data)

    @extend_schema(request=None, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        try:
            services.order_confirm_delivery(order, actor=f"member:{order.member_id}")
        except services.TransitionRefused as exc:
            raise serializers.ValidationError({"status": ["Only a shipped order can be confirmed."]}) from exc
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data)

    @extend_schema(request=payments_api.PayRequestSerializer, responses={200: payments_api.PayResponseSerializer})
    @action(detail=True, methods=["post"])
    def pay(self, request: Request, pk: str | None = None) -> Response:
        """Start paying the order: a Stripe client secret for the card form, or the shop's
        offline payment instructions."""
        return payments_api.pay(self.get_object(), request)

    @extend_schema(request=None, responses={200: payments_api.PaymentSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="payments")
    def payment_list(self, request: Request, pk: str | None = None) -> Response:
        return payments_api.payments(self.get_object())


# --- merchant console -------------------------------------------------------------------------
class ShipSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=40)
    tracking_number = serializers.CharField(max_length=60)


class ConsoleOrders(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    permission_classes = [IsConsoleUser]
    serializer_class = OrderSerializer

    def get_queryset(self) -> Any:
        orders = Order.objects.prefetch_related("lines", "log")
        wanted = self.request.query_params.get("status")
        return orders.filter(status=wanted) if wanted in Order.Status.values else orders

    def _actor(self) -> str:
        return f"staff:{cast(Any, self.request.user).pk}"

    def _do(self, work: Any) -> Response:
        try:
            order = work()
        except services.TransitionRefused as exc:
            raise serializers.ValidationError(
                {"status": [f"Not possible while the order is {exc.order.status}."]}
            ) from exc
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data)

    @extend_schema(request=ShipSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def ship(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        body = _body(request)
        return self._do(
            lambda: services.order_ship(
                order,
                carrier=str(body.get("carrier") or ""),
                tracking_number=str(body.get("tracking_number") or ""),
                actor=self._actor(),
            )
        )

    @extend_schema(request=None, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def ready(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        return self._do(lambda: services.order_ready_for_pickup(order, actor=self._actor()))

    @extend_schema(
        request={"application/json": {"type": "object", "properties": {"amount": {"type": "integer"}}}},
        responses={200: OrderSerializer},
    )
    @action(detail=True, methods=["post"], url_path="mark-paid")
    def mark_paid(self, request: Request, pk: str | None = None) -> Response:
        """Offline payment (cash or transfer) confirmed by the merchant."""
        order = self.get_object()
        amount = _body(request).get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise serializers.ValidationError({"amount": ["The amount received, in fen."]})
        return self._do(lambda: payments.offline_confirm(order, amount=amount, actor=self._actor()))

    @extend_schema(methods=["GET"], request=None, responses={200: payments_api.ConsoleRefundSerializer(many=True)})
    @extend_schema(
        methods=["POST"],
        request=payments_api.OrderRefundRequestSerializer,
        responses={201: payments_api.ConsoleRefundSerializer, 400: dict},
        parameters=[OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER)],
    )
    @action(detail=True, methods=["get", "post"], url_path="refunds")
    def refunds(self, request: Request, pk: str | None = None) -> Response:
        """The order's refunds with what each was for; POST refunds from the order page,
        saying what for: ``lines`` (units, optional amounts) and ``shipping``, or an
        ``amount`` for the goods by the documented rule."""
        order = self.get_object()
        if request.method == "GET":
            return payments_api.console_refunds(order)
        return payments_api.console_refund(order, request, self._actor())

    @extend_schema(
        request={"application/json": {"type": "object", "properties": {"code": {"type": "string"}}}},
        responses={200: OrderSerializer},
    )
    @action(detail=False, methods=["post"], url_path="verify-pickup")
    def verify_pickup(self, request: Request) -> Response:
        code = str(_body(request).get("code") or "")
        return self._do(lambda: services.order_verify_pickup(code, actor=self._actor()))
