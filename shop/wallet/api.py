"""The member's shop balance for mini-program and app clients: ``GET /api/v1/wallet/``
(member auth, as ``/api/v1/members/``)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from shop.members.api import MemberAPIView, request_member
from shop.wallet import services
from shop.wallet.models import WalletEntry


class EntrySerializer(serializers.ModelSerializer[WalletEntry]):
    class Meta:
        model = WalletEntry
        fields = ["id", "amount", "kind", "note", "created_at"]
        read_only_fields = fields


class WalletSerializer(serializers.Serializer[Any]):
    balance = serializers.IntegerField(help_text="fen")
    currency = serializers.CharField()
    entries = EntrySerializer(many=True, help_text="the latest 20, newest first; amount signed, fen")


class WalletAPI(MemberAPIView):
    @extend_schema(responses={200: WalletSerializer}, tags=["wallet"])
    def get(self, request: Request) -> Response:
        member = request_member(request)
        currency = str(getattr(getattr(connection, "tenant", None), "currency", "") or "CNY")
        return Response(
            {
                "balance": services.balance(member),
                "currency": currency,
                "entries": EntrySerializer(services.entries(member), many=True).data,
            }
        )
