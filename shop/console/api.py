"""Merchant console API (shop host, ``/api/v1/console/``), token or session authenticated."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser
from platform_core.features import effective_features
from platform_core.ratelimit import rate_limit
from platform_core.scoping import ShopAPIView, ShopViewSet
from shop import staff as staff_services
from shop.models import StaffGrant, can_edit_theme_code


class IsOwnerForWrites(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(getattr(request.user, "is_owner", False))


def _drf_errors(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError({f: [m for e in errs for m in e.messages] for f, errs in exc.error_dict.items()})
    return ValidationError({"non_field_errors": exc.messages})


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True)


@method_decorator(rate_limit("console-login", "LOGIN_RATE_LIMIT"), name="dispatch")
class ConsoleTokenAPI(ShopAPIView):
    """Exchange a staff member's email and password for an API token of this shop."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=TokenRequestSerializer, responses={200: dict}, tags=["console"])
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_staff:
            raise ValidationError({"non_field_errors": [_("Email or password is wrong.")]})
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class ShopInfoAPI(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(responses={200: dict}, tags=["console"])
    def get(self, request: Request) -> Response:
        shop = self.shop
        return Response(
            {
                "name": shop.name,
                "slug": shop.slug,
                "tier": shop.tier,
                "status": shop.status,
                "status_reason": shop.status_reason,
                "locale": shop.locale,
                "currency": shop.currency,
                "features": effective_features(shop),
            }
        )


class StaffSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=True, style={"input_type": "password"})
    can_edit_theme_code = serializers.SerializerMethodField()

    def get_can_edit_theme_code(self, user: Any) -> bool:
        return can_edit_theme_code(user)

    class Meta:
        model = get_user_model()
        fields = [
            "id",
            "email",
            "name",
            "is_owner",
            "is_active",
            "can_edit_theme_code",
            "last_login",
            "date_joined",
            "password",
        ]
        read_only_fields = ["id", "is_owner", "can_edit_theme_code", "last_login", "date_joined"]
        extra_kwargs: dict[str, dict[str, Any]] = {"email": {"validators": []}}


class StaffUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    can_edit_theme_code = serializers.BooleanField(required=False)


class StaffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ShopViewSet):
    permission_classes = [IsConsoleUser, IsOwnerForWrites]
    serializer_class = StaffSerializer

    def get_queryset(self) -> Any:
        return staff_services.staff_list()

    def create(self, request: Request) -> Response:
        serializer = StaffSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = staff_services.staff_add(
                self.shop, email=data["email"], name=data.get("name", ""), password=data["password"]
            )
        except DjangoValidationError as exc:
            raise _drf_errors(exc) from exc
        return Response(StaffSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StaffUpdateSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        member = self.get_object()
        # partial: a form-encoded PATCH without is_active must not read as is_active=false
        serializer = StaffUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            if "name" in serializer.validated_data:
                staff_services.staff_update(member, name=serializer.validated_data["name"])
            if "is_active" in serializer.validated_data:
                staff_services.staff_set_active(self.shop, member, serializer.validated_data["is_active"])
            if "can_edit_theme_code" in serializer.validated_data:
                StaffGrant.change(
                    request.user, member, StaffGrant.Power.THEME_CODE, serializer.validated_data["can_edit_theme_code"]
                )
        except DjangoValidationError as exc:
            raise _drf_errors(exc) from exc
        return Response(StaffSerializer(member).data)

    def perform_destroy(self, instance: Any) -> None:
        try:
            staff_services.staff_remove(instance)
        except DjangoValidationError as exc:
            raise _drf_errors(exc) from exc
