"""Catalogue API: the storefront's reads (anyone) and the merchant console's writes
(staff, token or session)."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, ProtectedError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser
from platform_core.api import drf_errors as _drf
from platform_core.api import json_body as _body
from platform_core.parsing import as_id
from platform_core.scoping import ShopAPIView, ShopViewSet
from shop.catalogue import selectors, services
from shop.catalogue.models import Category, Product, ProductImage, ProductType, Sku
from shop.marketing.selectors import product_offers

LIST_CACHE_SECONDS = 300


# --- serializers --------------------------------------------------------------------------
class ImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = ProductImage
        fields = ["id", "url", "width", "height", "position"]

    def get_url(self, obj: ProductImage) -> str:
        return obj.image.url


class SkuSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sku
        fields = ["id", "spec_values", "code", "price", "list_price", "stock", "weight_g", "is_active"]


class ConsoleSkuSerializer(SkuSerializer):
    class Meta(SkuSerializer.Meta):
        fields = [*SkuSerializer.Meta.fields, "cost"]


class ProductListSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["id", "name", "subtitle", "min_price", "max_price", "sales_count", "category", "image"]

    def get_image(self, obj: Product) -> str | None:
        images = list(obj.images.all())
        return images[0].image.url if images else None


class ProductDetailSerializer(serializers.ModelSerializer):
    skus = SkuSerializer(many=True, read_only=True)
    images = ImageSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "subtitle",
            "description",
            "code",
            "category",
            "product_type",
            "attributes",
            "specs",
            "min_price",
            "max_price",
            "sales_count",
            "skus",
            "images",
        ]


class ConsoleProductSerializer(ProductDetailSerializer):
    skus = ConsoleSkuSerializer(many=True, read_only=True)

    class Meta(ProductDetailSerializer.Meta):
        fields = [*ProductDetailSerializer.Meta.fields, "status", "created_at", "updated_at", "published_at"]


class ProductWriteSerializer(serializers.Serializer):
    """Validated by the catalogue services (field-level errors); documented here."""

    name = serializers.CharField()
    subtitle = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    code = serializers.CharField(required=False, allow_blank=True)
    category = serializers.IntegerField(required=False, allow_null=True)
    product_type = serializers.IntegerField(required=False, allow_null=True)
    attributes = serializers.DictField(required=False)
    specs = serializers.ListField(
        child=serializers.DictField(), required=False, help_text='[{"name": "颜色", "values": ["红", "蓝"]}]'
    )
    skus = serializers.ListField(
        child=serializers.DictField(),
        help_text='One per specification combination: {"spec": {"颜色": "红"}, "price": 9900, "stock": 10, "code": "", "list_price": null, "cost": null, "weight_g": 0}',
    )


class StatusSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    status = serializers.ChoiceField(choices=Product.Status.choices)


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "parent", "position", "is_active"]


class ProductTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductType
        fields = ["id", "name", "attributes"]


# --- storefront reads ----------------------------------------------------------------------
class StorefrontProducts(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """Products on sale. Search by name or code, filter by category (with subcategories) and
    price (fen), sort by newest, sales, price_asc or price_desc."""

    permission_classes = [permissions.AllowAny]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ProductDetailSerializer if self.action == "retrieve" else ProductListSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        errors = {}
        ints: dict[str, int | None] = {}
        for key in ("category", "min_price", "max_price"):
            raw = params.get(key)
            if raw in (None, ""):
                ints[key] = None
            elif not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
                errors[key] = [_("Send a whole number.")]
            else:
                ints[key] = int(raw)
        sort = params.get("sort", "newest")
        if sort not in selectors.SORTS:
            errors["sort"] = [_("One of: %(choices)s.") % {"choices": ", ".join(selectors.SORTS)}]
        if errors:
            raise serializers.ValidationError(errors)
        if self.action == "retrieve":
            return selectors.storefront_products().prefetch_related(
                Prefetch("skus", queryset=Sku.objects.filter(is_active=True))
            )
        return selectors.storefront_products(q=params.get("q", ""), sort=sort, **ints)

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str),
            OpenApiParameter("category", int),
            OpenApiParameter("min_price", int),
            OpenApiParameter("max_price", int),
            OpenApiParameter("sort", str, enum=list(selectors.SORTS)),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Pages are cached per shop (the cache key carries the schema) and per catalogue
        # version: any catalogue write makes a new version, so a page is never stale.
        query = urlencode(sorted(request.query_params.items()))
        key = f"catalogue:list:{selectors.catalogue_version()}:{hashlib.sha1(query.encode()).hexdigest()}"
        cached = cache.get(key)
        if cached is not None:
            return Response(cached)
        response = super().list(request, *args, **kwargs)
        if response.status_code == 200:
            cache.set(key, response.data, LIST_CACHE_SECONDS)
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One product; ``activities``: each SKU's activity price now and when it ends (a
        countdown), never cached."""
        response = super().retrieve(request, *args, **kwargs)
        response.data["activities"] = product_offers(response.data["id"])
        return response


class StorefrontCategories(ShopAPIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(selectors.category_tree())


# --- console writes -----------------------------------------------------------------------
class ConsoleProducts(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ShopViewSet):
    permission_classes = [IsConsoleUser]
    serializer_class = ConsoleProductSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> Any:
        products = Product.objects.prefetch_related("skus", "images").order_by("-id")
        params = self.request.query_params
        if params.get("status") in Product.Status.values:
            products = products.filter(status=params["status"])
        if params.get("q"):
            products = products.filter(name__icontains=params["q"])
        return products

    @extend_schema(request=ProductWriteSerializer, responses={201: ConsoleProductSerializer})
    def create(self, request: Request) -> Response:
        try:
            product = services.product_save(self.shop, _body(request))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(ConsoleProductSerializer(product).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ProductWriteSerializer, responses={200: ConsoleProductSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        product = self.get_object()
        try:
            product = services.product_save(self.shop, _body(request), product=product)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        product = self.get_queryset().get(pk=product.pk)
        return Response(ConsoleProductSerializer(product).data)

    def perform_destroy(self, instance: Product) -> None:
        if instance.status == Product.Status.ON_SALE:
            raise serializers.ValidationError({"status": [_("Take the product off sale before deleting it.")]})
        try:
            instance.delete()
        except ProtectedError as exc:
            raise serializers.ValidationError(
                {"product": [_("It has been ordered: keep it off sale instead of deleting it.")]}
            ) from exc

    @extend_schema(request=StatusSerializer, responses={200: dict})
    @action(detail=False, methods=["post"])
    def status(self, request: Request) -> Response:
        serializer = StatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        products = list(Product.objects.filter(pk__in=serializer.validated_data["ids"]))
        if len(products) != len(set(serializer.validated_data["ids"])):
            raise serializers.ValidationError({"ids": [_("Some of these products do not exist.")]})
        try:
            changed = services.product_set_status(products, serializer.validated_data["status"])
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response({"changed": changed})

    @extend_schema(
        request={
            "multipart/form-data": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
        },
        responses={201: ImageSerializer},
    )
    @action(detail=True, methods=["post"])
    def images(self, request: Request, pk: str | None = None) -> Response:
        product = self.get_object()
        upload = request.FILES.get("image")
        if upload is None:
            raise serializers.ValidationError({"image": [_("Attach an image file.")]})
        try:
            image = services.image_add(product, upload)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)


class ConsoleCategories(mixins.ListModelMixin, mixins.DestroyModelMixin, ShopViewSet):
    permission_classes = [IsConsoleUser]
    serializer_class = CategorySerializer
    queryset = Category.objects.all()

    def _save(self, request: Request, category: Category | None) -> Response:
        data = _body(request)
        parent = None
        if data.get("parent") not in (None, ""):
            parent_pk = as_id(data["parent"])
            parent = Category.objects.filter(pk=parent_pk).first() if parent_pk else None
            if parent is None:
                raise serializers.ValidationError({"parent": [_("Choose an existing category.")]})
        position = data.get("position", 0)
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise serializers.ValidationError({"position": [_("A whole number ≥ 0.")]})
        try:
            saved = services.category_save(
                name=str(data.get("name") or ""),
                parent=parent,
                position=position,
                is_active=bool(data.get("is_active", True)),
                category=category,
            )
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(CategorySerializer(saved).data, status=201 if category is None else 200)

    @extend_schema(request=CategorySerializer, responses={201: CategorySerializer})
    def create(self, request: Request) -> Response:
        return self._save(request, None)

    @extend_schema(request=CategorySerializer, responses={200: CategorySerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._save(request, self.get_object())

    def perform_destroy(self, instance: Category) -> None:
        try:
            services.category_delete(instance)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc


class ConsoleProductTypes(mixins.ListModelMixin, ShopViewSet):
    permission_classes = [IsConsoleUser]
    serializer_class = ProductTypeSerializer
    queryset = ProductType.objects.all()

    @extend_schema(request=ProductTypeSerializer, responses={201: ProductTypeSerializer})
    def create(self, request: Request) -> Response:
        body = _body(request)
        try:
            saved = services.product_type_save(name=str(body.get("name") or ""), attributes=body.get("attributes", []))
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(ProductTypeSerializer(saved).data, status=201)


class ConsoleSkuStock(ShopAPIView):
    permission_classes = [IsConsoleUser]

    @extend_schema(
        request={"application/json": {"type": "object", "properties": {"stock": {"type": "integer"}}}},
        responses={200: ConsoleSkuSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        sku = get_object_or_404(Sku, pk=pk)
        try:
            body = _body(request)
            services.sku_adjust_stock(
                sku, adjust=body.get("adjust"), stock=body.get("stock"), expected=body.get("expected")
            )
        except DjangoValidationError as exc:
            raise _drf(exc) from exc
        return Response(ConsoleSkuSerializer(sku).data)
