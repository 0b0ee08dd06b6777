"""Paying an order from mini-program and app clients. Mounted as actions of the member's
orders (``/api/v1/orders/<id>/pay/`` and ``…/payments/``) in ``shop.orders.api``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shop.orders.models import Order
from shop.payments import selectors, services
from shop.payments.models import Payment, Refund, RefundLine


class PayRequestSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(
        choices=Payment.Provider.choices,
        help_text="stripe (card), offline, or balance (the member's shop balance pays at once)",
    )


class PayResponseSerializer(serializers.Serializer):
    provider = serializers.CharField()
    amount = serializers.IntegerField(help_text="fen")
    currency = serializers.CharField()
    client_secret = serializers.CharField(required=False, help_text="stripe: for Stripe.js confirmCardPayment")
    publishable_key = serializers.CharField(required=False, help_text="stripe")
    payment_intent = serializers.CharField(required=False, help_text="stripe")
    payment = serializers.IntegerField(required=False, help_text="stripe, balance: the payment's id")
    status = serializers.CharField(
        required=False, help_text="stripe: the PaymentIntent's status; balance: succeeded (the order is paid)"
    )
    balance = serializers.IntegerField(required=False, help_text="balance: what is left on the shop balance, fen")
    provider_label = serializers.CharField(required=False, help_text="offline: how it is labelled")
    instructions = serializers.CharField(required=False, help_text="offline: how to pay")
    order_number = serializers.CharField(
        required=False, help_text="offline: quote it with the transfer; balance: the order paid"
    )


class RefundPartSerializer(serializers.ModelSerializer):
    class Meta:
        model = RefundLine
        fields = ["kind", "order_line", "amount", "quantity"]


class RefundSerializer(serializers.ModelSerializer):
    parts = RefundPartSerializer(many=True, read_only=True, help_text="what the refund was for, per order line")

    class Meta:
        model = Refund
        fields = ["id", "amount", "reason", "status", "created_at", "parts"]


class ConsoleRefundSerializer(serializers.ModelSerializer):
    parts = RefundPartSerializer(many=True, read_only=True, help_text="what the refund was for, per order line")

    class Meta:
        model = Refund
        fields = ["id", "payment", "amount", "status", "reason", "reference", "failure_message", "created_at", "parts"]


class JsonInteger(serializers.IntegerField):
    """A JSON whole number only: no strings ("２", "1e3"), no booleans, no floats."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class OrderRefundLineSerializer(serializers.Serializer):
    line = JsonInteger(min_value=1, help_text="an order line id")
    quantity = JsonInteger(min_value=0, max_value=100_000, default=0, help_text="units to refund")
    amount = JsonInteger(
        min_value=0, max_value=1_000_000_000, required=False, help_text="fen; default: the units' value"
    )


class OrderRefundRequestSerializer(serializers.Serializer):
    payment = JsonInteger(
        min_value=1, required=False, help_text="one of the order's payments; the only refundable one by default"
    )
    amount = JsonInteger(
        min_value=1,
        max_value=1_000_000_000,
        required=False,
        help_text="fen for the goods, spread over the lines by what each has left (largest remainder), the part "
        "beyond the goods being shipping; or the amount of a payment that never paid for the order",
    )
    lines = OrderRefundLineSerializer(many=True, required=False, help_text="or: units (and amounts) of lines")
    shipping = JsonInteger(
        min_value=0, max_value=1_000_000_000, default=0, help_text="fen of the shipping fee (with lines, or alone)"
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)
    reference = serializers.CharField(
        required=False, allow_blank=True, max_length=120, help_text="offline: how the money was sent back (done)"
    )


class PaymentSerializer(serializers.ModelSerializer):
    refunds = RefundSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "provider",
            "status",
            "amount",
            "currency",
            "refunded_amount",
            "failure_message",
            "created_at",
            "succeeded_at",
            "refunds",
        ]


def _errors(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(
            {f: [m for e in errs for m in e.messages] for f, errs in exc.error_dict.items()}
        )
    return serializers.ValidationError({"non_field_errors": exc.messages})


def pay(order: Order, request: Request) -> Response:
    data = request.data if isinstance(request.data, dict) else {}
    try:
        found = services.payment_start(order, data.get("provider"), actor=f"member:{order.member_id}")
    except DjangoValidationError as exc:
        raise _errors(exc) from exc
    except services.PaymentError as exc:
        return Response({"code": exc.code, "detail": exc.message}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response(found)


def payments(order: Order) -> Response:
    return Response(PaymentSerializer(selectors.order_payments(order), many=True).data)


def console_refunds(order: Order) -> Response:
    refunds = Refund.objects.filter(payment__order=order).prefetch_related("parts").order_by("created_at", "id")
    return Response(ConsoleRefundSerializer(refunds, many=True).data)


def console_refund(order: Order, request: Request, actor: str) -> Response:
    """The merchant refunds from the order page: what for (lines and units, shipping, or an
    amount for the goods by the rule). ``Idempotency-Key``: a retry returns the first refund."""
    body = OrderRefundRequestSerializer(data=request.data if isinstance(request.data, dict) else {})
    body.is_valid(raise_exception=True)
    data = body.validated_data
    lines = tuple((row["line"], row["quantity"], row.get("amount")) for row in data.get("lines") or [])
    try:
        refund = services.order_refund(
            order,
            payment=data.get("payment"),
            amount=data.get("amount"),
            lines=lines,
            shipping=data.get("shipping", 0),
            reason=data.get("reason") or "",
            actor=actor,
            idempotency_key=request.headers.get("Idempotency-Key"),
            reference=data.get("reference") or "",
        )
    except DjangoValidationError as exc:
        raise _errors(exc) from exc
    refund = Refund.objects.prefetch_related("parts").get(pk=refund.pk)
    return Response(ConsoleRefundSerializer(refund).data, status=status.HTTP_201_CREATED)
