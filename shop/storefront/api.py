"""The shop's published theme for mini-program and app clients: which theme, its version
and its settings (colours, fonts, radius, logo), so a native client styles itself like
the web storefront. Drafts are never shown here."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.scoping import ShopAPIView
from shop.storefront.models import ShopTheme
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
