"""The catalogue: nested categories, product types with their own attributes, products
with spec dimensions generating SKUs, images. Money is integer minor units (fen)."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    name = models.CharField(_("name"), max_length=40)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("visible"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_name_uniq_in_parent"),
            models.UniqueConstraint(fields=["name"], condition=Q(parent__isnull=True), name="category_root_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name


class ProductType(models.Model):
    """A kind of product and the attributes it carries (a clothing type: size chart,
    material; cosmetics: ingredients, shelf life). ``attributes`` is a list of
    ``{"key", "label", "kind": text|multiline|number|choice, "choices": [...], "required"}``."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    attributes = models.JSONField(_("attributes"), default=list)

    class Meta:
        ordering = ["name"]
        verbose_name = _("product type")
        verbose_name_plural = _("product types")

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ON_SALE = "on_sale", _("On sale")
        OFF_SALE = "off_sale", _("Off sale")

    name = models.CharField(_("name"), max_length=120)
    subtitle = models.CharField(_("subtitle"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    code = models.CharField(_("product code"), max_length=40, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="products", verbose_name=_("category")
    )
    product_type = models.ForeignKey(
        ProductType, on_delete=models.SET_NULL, null=True, blank=True, related_name="products", verbose_name=_("type")
    )
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    # [{"name": "颜色", "values": ["红", "蓝"]}, {"name": "尺码", "values": ["S", "M"]}]
    specs = models.JSONField(_("specifications"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Kept in step with the active SKUs by the services (for sorting and price filters).
    min_price = models.PositiveIntegerField(_("lowest price"), default=0)
    max_price = models.PositiveIntegerField(_("highest price"), default=0)
    sales_count = models.PositiveIntegerField(_("sold"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.UniqueConstraint(Upper("code"), condition=~Q(code=""), name="product_code_ci_uniq"),
        ]
        indexes = [
            # trigram index: `name ILIKE '%…%'` (icontains) searches use it
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="product_name_trgm"),
            models.Index(fields=["status", "-sales_count"], name="product_by_sales"),
            models.Index(fields=["status", "min_price"], name="product_by_price"),
            models.Index(fields=["status", "-published_at"], name="product_by_newness"),
        ]

    def __str__(self) -> str:
        return self.name


class Sku(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus", verbose_name=_("product"))
    spec_values = models.JSONField(_("specification values"), default=dict, blank=True)
    # canonical "颜色=红|尺码=M" ("" for a product without specs)
    spec_key = models.CharField(max_length=400, blank=True)
    code = models.CharField(_("SKU code"), max_length=40, blank=True)
    price = models.PositiveIntegerField(_("price"))
    list_price = models.PositiveIntegerField(_("list price"), null=True, blank=True)
    cost = models.PositiveIntegerField(_("cost"), null=True, blank=True)
    stock = models.IntegerField(_("stock"), default=0)
    weight_g = models.PositiveIntegerField(_("weight (g)"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        constraints = [
            models.UniqueConstraint(fields=["product", "spec_key"], name="sku_spec_uniq"),
            models.UniqueConstraint(Upper("code"), condition=~Q(code=""), name="sku_code_ci_uniq"),
            # Stock never goes below zero, whatever the code above does.
            models.CheckConstraint(condition=Q(stock__gte=0), name="sku_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}:{self.spec_key or '-'}"

    @property
    def label(self) -> str:
        """ "白 / M", in the order of the product's specification dimensions."""
        return " / ".join(str(self.spec_values.get(d["name"], "")) for d in self.product.specs)


def product_image_path(instance: ProductImage, filename: str) -> str:
    # the storage adds the shop's folder; the name is random (see services.image_add)
    return f"products/{instance.product_id}/{filename}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images", verbose_name=_("product"))
    image = models.ImageField(_("image"), upload_to=product_image_path)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    bytes = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("product image")
        verbose_name_plural = _("product images")

    def __str__(self) -> str:
        return self.image.name or ""
