"""Pickup stores API: the merchant console's (``/api/v1/console/stores/``, token or
session; staff read, the owner writes) and the storefront's public list of pickup stores
(``/api/v1/stores/``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, permissions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser
from platform_core.api import drf_errors as _drf
from platform_core.api import json_body as _body
from platform_core.scoping import ShopViewSet
from shop.console.api import IsOwnerForWrites
from shop.stores import hours, selectors, services
from shop.stores.models import Store

_RANGE = {
    "type": "object",
    "properties": {
        "open": {"type": "string", "pattern": "^\\d{2}:\\d{2}$", "example": "09:00"},
        "close": {"type": "string", "pattern": "^\\d{2}:\\d{2}$", "example": "21:00", "description": "up to 24:00"},
    },
    "required": ["open", "close"],
}
OPENING_HOURS_SCHEMA = {
    "type": "object",
    "description": "Local time (Asia/Shanghai by default). One list of ranges per weekday; [] = closed. "
    "Ranges must not overlap and close after they open; 24:00 closes at midnight.",
    "properties": {day: {"type": "array", "items": _RANGE} for day in hours.DAYS},
}


@extend_schema_field(OPENING_HOURS_SCHEMA)
class OpeningHoursField(serializers.JSONField):
    pass


def _coordinate() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=9, decimal_places=6, coerce_to_string=False, allow_null=True)


class StorefrontStoreSerializer(serializers.ModelSerializer):
    latitude = _coordinate()
    longitude = _coordinate()
    opening_hours = OpeningHoursField()
    open_now = serializers.SerializerMethodField()

    class Meta:
        model = Store
        fields = [
            "id",
            "name",
            "phone",
            "province",
            "city",
            "district",
            "address",
            "latitude",
            "longitude",
            "opening_hours",
            "open_now",
        ]

    def get_open_now(self, obj: Store) -> bool:
        return selectors.is_open_at(obj, self.context.get("now") or timezone.now())


class StoreSerializer(StorefrontStoreSerializer):
    class Meta(StorefrontStoreSerializer.Meta):
        fields = [*StorefrontStoreSerializer.Meta.fields, "pickup_enabled", "is_active", "created_at", "updated_at"]


class StoreWriteSerializer(serializers.Serializer):
    """Validated by the stores services (field-level errors); documented here."""

    name = serializers.CharField(max_length=40, help_text="Unique in the shop, ignoring case.")
    phone = serializers.CharField(help_text="A mobile number (13800138000) or a landline (010-12345678).")
    province = serializers.CharField(max_length=30)
    city = serializers.CharField(max_length=30)
    district = serializers.CharField(max_length=30)
    address = serializers.CharField(max_length=120)
    latitude = _coordinate()
    longitude = _coordinate()
    opening_hours = OpeningHoursField(required=False)
    pickup_enabled = serializers.BooleanField(required=False, help_text="true for a new store unless given.")
    is_active = serializers.BooleanField(
        required=False,
        help_text="true for a new store unless given; false deactivates; true re-activates within the plan's "
        "store limit. Fields left out of a PUT keep their values.",
    )


class ConsoleStores(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """The shop's pickup stores. Staff read; the owner creates and edits. Stores are never
    deleted: PATCH ``{"is_active": false}`` deactivates one (and frees a place in the plan's
    store limit); ``true`` re-activates it if the limit allows (else 403 ``limit_reached``)."""

    permission_classes = [IsConsoleUser, IsOwnerForWrites]
    serializer_class = StoreSerializer
    parser_classes = [JSONParser]

    def get_queryset(self) -> Any:
        stores = Store.objects.all()
        params = self.request.query_params
        if params.get("is_active") in ("true", "false"):
            stores = stores.filter(is_active=params["is_active"] == "true")
        if params.get("q"):
            stores = stores.filter(name__icontains=params["q"])
        return stores

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _out(self, store: Store, code: int = status.HTTP_200_OK) -> Response:
        return Response(StoreSerializer(store, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        parameters=[OpenApiParameter("is_active", bool), OpenApiParameter("q", str, description="name contains")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=StoreWriteSerializer, responses={201: StoreSerializer})
    def create(self, request: Request) -> Response:
        try:
            store = services.store_create(self.shop, _body(request))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return self._out(store, status.HTTP_201_CREATED)

    @extend_schema(request=StoreWriteSerializer, responses={200: StoreSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=StoreWriteSerializer, responses={200: StoreSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        store = self.get_object()
        try:
            store = services.store_update(self.shop, store, _body(request), partial=partial)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return self._out(store)


class StorefrontStores(mixins.ListModelMixin, ShopViewSet):
    """Stores where a buyer can pick an order up (active, pickup enabled), with their hours
    and whether they are open now."""

    permission_classes = [permissions.AllowAny]
    serializer_class = StorefrontStoreSerializer

    def get_queryset(self) -> Any:
        return selectors.pickup_stores()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}
