"""Shared API pieces: the exception handler (machine-readable codes, field-level errors)
and the feature-gate permission."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from platform_core.features import FeatureError, require_feature


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, FeatureError):
        return Response(exc.as_dict(), status=403)
    return drf_exception_handler(exc, context)


def requires_feature(key: str) -> type[permissions.BasePermission]:
    """DRF permission: the request's shop must have ``key`` (403 with code and upgrade hint)."""

    class RequiresFeature(permissions.BasePermission):
        def has_permission(self, request: Request, view: APIView) -> bool:
            require_feature(request.tenant, key)  # type: ignore[attr-defined]
            return True

    RequiresFeature.__name__ = f"RequiresFeature_{key}"
    return RequiresFeature


def drf_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's ValidationError as DRF's field → messages 400."""
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(
            {f: [m for e in errs for m in e.messages] for f, errs in exc.error_dict.items()}
        )
    return serializers.ValidationError({"non_field_errors": exc.messages})


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (a 400 for a list, a string, …); form posts as a dict."""
    data = request.data
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": [gettext("Send a JSON object.")]})
    if hasattr(data, "dict"):  # a QueryDict from a form post
        return {k: data.get(k) for k in data}
    return dict(data)


class IsConsoleUser(permissions.BasePermission):
    """The shop's own console users (staff of this schema); members never are."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and getattr(request.user, "is_staff", False))
