"""The shop's published theme for mini-program and app clients: which theme, its version
and its settings (colours, fonts, radius, logo), so a native client styles itself like
the web storefront. Drafts are never shown here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser
from platform_core.features import FeatureError
from platform_core.scoping import ShopAPIView
from shop.models import can_edit_theme_code
from shop.storefront import services
from shop.storefront.models import ShopTheme, TemplateOverride
from shop.storefront.theming import latest_version_id, version_by_id
from themes import settings_schema


class ThemeAPI(ShopAPIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        row = ShopTheme.current()
        version = version_by_id(row.version_id) if row.version_id else None
        if version is None:
            latest = latest_version_id(row.theme_key)
            version = version_by_id(latest) if latest else None
        if version is None:
            return Response({"theme": None, "settings": {}})
        values = settings_schema.defaults(version.settings_schema)
        values.update({k: v for k, v in row.settings.items() if k in values})
        for key, value in list(values.items()):
            if isinstance(value, str) and value in settings_schema.FONT_STACKS and key.endswith("font"):
                values[f"{key}_stack"] = settings_schema.FONT_STACKS[value]
        return Response(
            {
                "theme": version.theme.key,
                "name": version.theme.name,
                "version": version.version,
                "revision": row.revision,
                "settings": values,
            }
        )


class CanEditThemeCode(permissions.BasePermission):
    """Template code is owner-level power: the owner, or staff the owner allowed."""

    message = "Only the shop's owner, or staff the owner allows to edit the theme's code, can change it."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_edit_theme_code(request.user)


class ThemeCodeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    source = serializers.CharField(  # type: ignore[assignment]
        allow_blank=True, trim_whitespace=False, max_length=services.MAX_OVERRIDE_CHARS
    )


class ThemeCodeNameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)


def _errors(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError({f: [m for e in errs for m in e.messages] for f, errs in exc.error_dict.items()})
    return ValidationError({"non_field_errors": exc.messages})


class ThemeCodeAPI(ShopAPIView):
    """The shop's template overrides (custom tier): list them, save a draft (answered with
    its problem — file, line, message — if it has one)."""

    permission_classes = [IsConsoleUser, CanEditThemeCode]

    @extend_schema(responses={200: dict}, tags=["console"])
    def get(self, request: Request) -> Response:
        rows = TemplateOverride.objects.all()
        return Response(
            {
                "results": [
                    {"name": r.name, "published": r.is_published, "source": r.source, "draft": r.draft} for r in rows
                ]
            }
        )

    @extend_schema(request=ThemeCodeSerializer, responses={200: dict, 400: dict, 403: dict}, tags=["console"])
    def post(self, request: Request) -> Response:
        serializer = ThemeCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            _row, problem = services.override_save_draft(
                self.shop, serializer.validated_data["name"], serializer.validated_data["source"]
            )
        except FeatureError as exc:
            raise PermissionDenied(str(exc)) from exc
        except DjangoValidationError as exc:
            raise _errors(exc) from exc
        return Response({"name": _row.name, "problem": problem}, status=400 if problem else 200)


class ThemeCodePublishAPI(ShopAPIView):
    permission_classes = [IsConsoleUser, CanEditThemeCode]

    @extend_schema(request=ThemeCodeNameSerializer, responses={200: dict, 400: dict, 403: dict}, tags=["console"])
    def post(self, request: Request) -> Response:
        serializer = ThemeCodeNameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            row = services.override_publish(
                self.shop, serializer.validated_data["name"], actor=f"staff:{request.user.pk}"
            )
        except FeatureError as exc:
            raise PermissionDenied(str(exc)) from exc
        except DjangoValidationError as exc:
            raise _errors(exc) from exc
        return Response({"name": row.name, "published": row.is_published})
