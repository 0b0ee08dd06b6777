"""Media files on shop hosts when storage is local (with S3, media URLs point at the
bucket). A shop host serves only its own folder and the platform's theme assets — never
another shop's files. Theme assets carry a content hash in their name and are cached for
a year; everything else for a day."""

from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.utils._os import safe_join
from django.views import View

from platform_core.scoping import ShopScopedMixin
from platform_core.tenancy import current_schema

YEAR = 365 * 24 * 3600
SAFE_TYPES = {
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "text/css",
    "application/javascript",
    "text/javascript",
}


class MediaView(ShopScopedMixin, View):
    def get(self, request: HttpRequest, path: str) -> HttpResponseBase:
        return serve_media(request, path)


def serve_media(request: HttpRequest, path: str) -> HttpResponseBase:
    path = posixpath.normpath(path).lstrip("/")
    folder, _sep, rest = path.partition("/")
    theme_asset = folder == "public" and rest.startswith("themes/")
    if not rest or (folder != current_schema() and not theme_asset):
        raise Http404
    try:
        full = Path(safe_join(str(settings.MEDIA_ROOT), path))
    except Exception:  # noqa: BLE001 - any escape attempt is simply not found
        raise Http404 from None
    if not full.is_file():
        raise Http404
    content_type = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
    if full.suffix == ".svg":
        raise Http404  # SVG can carry script: never served inline from a shop host
    response = FileResponse(full.open("rb"), content_type=content_type)
    if content_type not in SAFE_TYPES:
        response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    hashed = theme_asset or rest.startswith("theme-assets/")  # names carry their content's hash
    response["Cache-Control"] = f"public, max-age={YEAR}, immutable" if hashed else "public, max-age=86400"
    return response
