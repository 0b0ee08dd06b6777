"""OpenAPI description of the member token (drf-spectacular extension, loaded by the app)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "shop.members.auth.MemberTokenAuthentication"
    name = "memberToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A member token from /api/v1/members/login/ or /register/: 'Authorization: Bearer <token>'.",
        }


class MemberSessionScheme(OpenApiAuthenticationExtension):
    target_class = "shop.members.auth.MemberSessionAuthentication"
    name = "memberSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
