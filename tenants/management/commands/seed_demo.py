"""Seed the demo: an operator and two shops (standard and pro) with owner logins.
Safe to run again: existing accounts and shops are kept as they are."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tenants.models import Tenant
from tenants.schemas import refill_pool
from tenants.services import ensure_platform, shop_signup, shop_url

OPERATOR = ("operator@fenxiao.local", "fenxiao-operator-2026")
SHOPS = [
    # slug, name, tier, owner email, password
    ("demo", "Demo 分销商城", "standard", "owner@demo.local", "demo-owner-2026"),
    ("demo-pro", "Demo Pro 旗舰店", "pro", "owner@demo-pro.local", "pro-owner-2026"),
]


class Command(BaseCommand):
    help = "Create the demo operator and shops (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_platform()
        User = get_user_model()
        email, password = OPERATOR
        if not User.objects.filter(email__iexact=email).exists():
            User.objects.create_superuser(email, password, name="Demo operator")
        refill_pool()
        for slug, name, tier, owner, owner_password in SHOPS:
            if not Tenant.objects.filter(slug=slug).exists():
                shop_signup(name=name, slug=slug, email=owner, password=owner_password, tier=tier)
        refill_pool()
        for slug, *_rest in SHOPS:
            self._seed_catalogue(Tenant.objects.get(slug=slug))
        from django.conf import settings

        port = settings.PLATFORM_URL_PORT
        base = f"{settings.PLATFORM_URL_SCHEME}://{settings.PLATFORM_DOMAIN}:{port}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Fenxiao demo is ready"))
        self.stdout.write(f"  Signup page        {base}/")
        self.stdout.write(f"  Operator console   {base}/operator/   {OPERATOR[0]} / {OPERATOR[1]}")
        if settings.OPERATOR_TWO_FACTOR_REQUIRED:
            self.stdout.write("                     (first login: scan the QR code with an authenticator app)")
        self.stdout.write(f"  API docs           {base}/api/docs/")
        for slug, _name, tier, owner, owner_password in SHOPS:
            tenant = Tenant.objects.get(slug=slug)
            self.stdout.write(f"  Shop '{slug}' ({tier})  storefront {shop_url(tenant)}")
            self.stdout.write(f"      merchant console {shop_url(tenant, '/console/')}   {owner} / {owner_password}")

    def _seed_catalogue(self, tenant: Tenant) -> None:
        """A few products on sale, so the demo storefront and API have something to show."""
        from django_tenants.utils import schema_context

        from shop.catalogue import services as catalogue
        from shop.catalogue.models import Product
        from shop.checkout.models import ShippingTemplate

        with schema_context(tenant.schema_name):
            if Product.objects.exists():
                return
            tea = catalogue.category_save(name="茶叶")
            ware = catalogue.category_save(name="茶具")
            made = [
                catalogue.product_save(
                    tenant,
                    {
                        "name": "明前龙井 100g",
                        "category": tea.pk,
                        "skus": [{"spec": {}, "price": 12800, "list_price": 16800, "stock": 200}],
                    },
                ),
                catalogue.product_save(
                    tenant,
                    {
                        "name": "白瓷盖碗",
                        "category": ware.pk,
                        "specs": [{"name": "容量", "values": ["120ml", "150ml"]}],
                        "skus": [
                            {"spec": {"容量": "120ml"}, "price": 6800, "stock": 50},
                            {"spec": {"容量": "150ml"}, "price": 7800, "stock": 50},
                        ],
                    },
                ),
                catalogue.product_save(
                    tenant,
                    {
                        "name": "茶礼盒（龙井 + 盖碗）",
                        "category": tea.pk,
                        "skus": [{"spec": {}, "price": 19900, "stock": 30}],
                    },
                ),
            ]
            catalogue.product_set_status(made, "on_sale")
            for product, colours in zip(made, DEMO_COLOURS, strict=False):
                catalogue.image_add(product, _demo_picture(*colours))
            ShippingTemplate.objects.get_or_create(
                is_default=True,
                defaults={
                    "name": "默认",
                    "default_fee": 800,
                    "free_over": 9900,
                    "rules": [{"provinces": ["新疆", "西藏"], "fee": 2000}],
                },
            )


# Generated pictures for the demo products (no files to ship, nothing downloaded).
DEMO_COLOURS = [((196, 214, 160), (98, 140, 70)), ((238, 236, 230), (180, 176, 168)), ((222, 60, 62), (250, 176, 96))]


def _demo_picture(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Any:
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image, ImageDraw

    size = 600
    image = Image.new("RGB", (size, size), top)
    draw = ImageDraw.Draw(image)
    for y in range(size):  # a soft vertical gradient
        t = y / size
        draw.line([(0, y), (size, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    draw.ellipse([150, 150, 450, 450], outline=(255, 255, 255), width=10)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return SimpleUploadedFile("demo.jpg", out.getvalue(), content_type="image/jpeg")
