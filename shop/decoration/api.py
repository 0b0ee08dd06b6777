"""Decoration API: the merchant console edits pages (draft, publish, versions, rollback) and
reads the block registry; anyone reads a published page as JSON (for mini-program clients,
which render the blocks natively)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser
from platform_core.api import drf_errors as _drf
from platform_core.api import json_body as _body
from platform_core.scoping import ShopAPIView
from shop.decoration import blocks, selectors, services
from shop.decoration.blocks import page_url
from shop.decoration.models import Page


def _page(slug: str) -> Page:
    page = services.page_get(slug)
    if page is None:
        raise Http404
    return page


def _draft(page: Page) -> dict[str, Any]:
    return {
        **selectors.page_summary(page),
        "blocks": page.draft_blocks,
        "url": page_url(page.slug),
        "preview_url": f"{page_url(page.slug)}?preview=draft",
    }


def _by(request: Request) -> str:
    return str(getattr(request.user, "email", "") or getattr(request.user, "pk", "") or "")


class DraftSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True)
    revision = serializers.IntegerField(
        required=False, help_text="The draft's revision the editor loaded; a draft changed since answers 409."
    )
    blocks = serializers.ListField(
        child=serializers.DictField(), help_text='[{"id": "b1", "type": "banner", "config": {...}}, ...]'
    )


class ConsoleBlockTypes(ShopAPIView):
    """The block types this shop's plan allows, with the field spec the editor builds its
    forms from and each type's defaults."""

    permission_classes = [IsConsoleUser]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response({"max_blocks": blocks.MAX_BLOCKS, "types": blocks.registry_spec(self.shop)})


class ConsolePages(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(operation_id="v1_console_pages_list", responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response([selectors.page_summary(p) for p in selectors.page_list()])

    @extend_schema(
        request={"application/json": {"type": "object", "properties": {"slug": {}, "title": {}}}},
        responses={201: dict},
    )
    def post(self, request: Request) -> Response:
        body = _body(request)
        try:
            page = services.page_create(slug=body.get("slug"), title=body.get("title", ""))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(_draft(page), status=status.HTTP_201_CREATED)


class ConsolePage(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        return Response(_draft(_page(slug)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        try:
            services.page_delete(_page(slug))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConsolePageDraft(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        return Response(_draft(_page(slug)))

    @extend_schema(request=DraftSerializer, responses={200: dict})
    def put(self, request: Request, slug: str) -> Response:
        page = _page(slug)
        try:
            page = services.page_save_draft(page, _body(request), tenant=self.shop)
        except services.DraftConflict as exc:
            return Response(exc.message_dict, status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(_draft(page))


class ConsolePagePublish(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, slug: str) -> Response:
        page = _page(slug)
        try:
            version = services.page_publish(page, tenant=self.shop, by=_by(request))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response({**_draft(page), "published_version": version.number})


class ConsolePageVersions(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        page = _page(slug)
        return Response(
            [
                {
                    "number": v.number,
                    "title": v.title,
                    "blocks": len(v.blocks),
                    "published_at": v.published_at,
                    "published_by": v.published_by,
                    "rolled_back_from": v.rolled_back_from,
                    "live": v.number == page.version,
                }
                for v in selectors.page_versions(page)[:100]
            ]
        )


class ConsolePageRollback(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(
        request={"application/json": {"type": "object", "properties": {"version": {"type": "integer"}}}},
        responses={200: dict},
    )
    def post(self, request: Request, slug: str) -> Response:
        page = _page(slug)
        try:
            version = services.page_rollback(page, _body(request).get("version"), tenant=self.shop, by=_by(request))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response({**_draft(page), "published_version": version.number})


class ConsoleDecorationImages(ShopAPIView):
    """Upload an image for a banner or hotspot block; answers its URL in the shop's media."""

    permission_classes = [IsConsoleUser]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={
            "multipart/form-data": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
        },
        responses={201: dict},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("image")
        if upload is None:
            raise serializers.ValidationError({"image": [_("Attach an image file.")]})
        try:
            url = services.image_upload(upload)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response({"url": url}, status=status.HTTP_201_CREATED)


class StorefrontPage(ShopAPIView):
    """A published page with every block's config and resolved data (products with price in
    fen, list price, image and url; categories with url), for clients that render natively."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        page = services.page_for_render(slug, draft=False, tenant=self.shop)
        if page is None:
            raise Http404
        return Response(page)
