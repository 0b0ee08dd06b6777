"""Shared API pieces: the exception handler (machine-readable codes, field-level errors)
and the feature-gate permission."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
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
