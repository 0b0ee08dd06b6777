"""Paying an order from mini-program and app clients. Mounted as actions of the member's
orders (``/api/v1/orders/<id>/pay/`` and ``…/payments/``) in ``shop.orders.api``."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shop.orders.models import Order
from shop.payments import selectors, services
from shop.payments.models import Payment, Refund


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


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ["id", "amount", "reason", "status", "created_at"]


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
