"""Themes as merchants and shoppers meet them: every storefront page renders through the
shop's active theme, the merchant previews a draft before publishing, rolls back, and on
the custom tier overrides templates in a sandbox that can neither break the live page nor
reach beyond the shop."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import english, in_shop, owner_client, shop_client
from tests.orders.conftest import product

pytestmark = pytest.mark.django_db


def product_page(tenant: Any, pk: int, client: Any = None) -> str:
    response = (client or english(shop_client(tenant))).get(f"/products/{pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_three_builtin_themes_differ_in_layout_not_only_colour(alpha: Any) -> None:
    from shop.storefront import services

    sku = product(alpha, name="Silk scarf")
    seen = {}
    for key in ("allround", "minimal", "fresh"):
        with in_shop(alpha):
            services.theme_choose(alpha, key)
            services.theme_publish(alpha, actor="test")
        seen[key] = product_page(alpha, sku.product_id)
        assert f"theme-{key}" in seen[key]
    assert "minimal-product" in seen["minimal"] and "lookbook" in seen["minimal"]
    assert "fresh-product" in seen["fresh"] and "allround-product" in seen["allround"]
    home = english(shop_client(alpha)).get("/").content.decode()
    assert "aisle-rail" in home  # fresh: categories first


def test_draft_is_previewed_by_staff_only_then_published_and_rolled_back(alpha: Any) -> None:
    from shop.storefront import services
    from shop.storefront.models import ShopTheme

    sku = product(alpha, name="Linen shirt")
    with in_shop(alpha):
        services.theme_choose(alpha, "allround")
        services.theme_publish(alpha, actor="test")
        live = ShopTheme.current().revision
    staff = owner_client(alpha)
    page = staff.post("/console/theme/", {"action": "choose", "theme": "minimal"})
    assert page.status_code == 302
    saved = staff.post(
        "/console/theme/",
        {
            "action": "settings",
            "s_brand_color": "#123456",
            "s_text_font": "serif",
            "s_corner_radius": "4",
            "s_grid_columns": "1",
            "s_tagline": "Quiet clothes",
        },
    )
    assert saved.status_code == 302
    shopper = product_page(alpha, sku.product_id)
    assert "theme-allround" in shopper and "#123456" not in shopper
    preview = staff.get(f"/products/{sku.product_id}/?preview=draft").content.decode()
    assert "theme-minimal" in preview and "#123456" in preview and "Quiet clothes" in preview
    # a shopper asking for the preview gets the published theme
    assert "theme-allround" in product_page(alpha, sku.product_id, shop_client(alpha))
    assert "theme-allround" in shop_client(alpha).get(f"/products/{sku.product_id}/?preview=draft").content.decode()
    assert staff.post("/console/theme/", {"action": "publish"}).status_code == 302
    assert "theme-minimal" in product_page(alpha, sku.product_id)
    staff.post("/console/theme/", {"action": "rollback", "revision": str(live)})
    assert "theme-allround" in product_page(alpha, sku.product_id)
    with in_shop(alpha):
        assert ShopTheme.current().revision == live + 2


def test_bad_settings_are_field_errors_and_change_nothing(alpha: Any) -> None:
    from shop.storefront import services
    from shop.storefront.models import ShopTheme

    with in_shop(alpha):
        services.theme_choose(alpha, "allround")
        before = ShopTheme.current().draft
    staff = english(owner_client(alpha))
    response = staff.post(
        "/console/theme/",
        {"action": "settings", "s_brand_color": "red;}</style><script>x()</script>", "s_corner_radius": "99"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a colour like #1a2b3c." in body and "Enter a number from 0 to 24." in body
    assert "<script>x()" not in body
    with in_shop(alpha):
        assert ShopTheme.current().draft == before
    unknown = staff.post("/console/theme/", {"action": "choose", "theme": "nope"})
    assert unknown.status_code == 400 and "Choose one of the themes offered." in unknown.content.decode()


def test_theme_tier_restriction(alpha: Any) -> None:
    from django.core.exceptions import ValidationError
    from django_tenants.utils import schema_context

    from shop.storefront import services
    from themes.models import Theme

    with schema_context("public"):
        Theme.objects.filter(key="fresh").update(tiers=["pro", "custom"])
    with in_shop(alpha), pytest.raises(ValidationError) as refused:
        services.theme_choose(alpha, "fresh")
    assert "not available on your plan" in str(refused.value)


def test_sandbox_refuses_escapes_cleanly(custom_shop: Any) -> None:
    from shop.storefront import services

    attempts = {
        "{% include '/etc/passwd' %}": "passwd",
        "{% render '../../../../etc/hosts' %}": "hosts",
        "{% for i in (1..1000000) %}{% for j in (1..1000000) %}x{% endfor %}{% endfor %}": "loop",
        "{% for i in (1..10000) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}{% endfor %}{% for i in (1..10000) %}{% for j in (1..3) %}{{ 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' }}{% endfor %}{% endfor %}": "output",
        "{% if product.name %}": "syntax",
    }
    with in_shop(custom_shop):
        for source, _label in attempts.items():
            _row, problem = services.override_save_draft(custom_shop, "templates/product", source)
            assert problem is not None, source
            assert problem["file"] == "templates/product" and problem["message"]
    with in_shop(custom_shop):
        # attribute walking finds nothing: templates see mappings, never Python objects
        _row, problem = services.override_save_draft(
            custom_shop,
            "templates/product",
            "[{{ product.__class__ }}{{ product.name.__class__.__mro__ }}{{ shop.__dict__ }}]",
        )
        assert problem is None
        services.override_publish(custom_shop, "templates/product", actor="test")
    sku = product(custom_shop, name="Walker")
    html = product_page(custom_shop, sku.product_id)
    assert "[]" in html and "class" not in html.split("[", 1)[1].split("]", 1)[0]


def test_override_changes_the_page_broken_one_falls_back_and_is_logged(custom_shop: Any, alpha: Any) -> None:
    from shop.storefront import services
    from shop.storefront.models import OverrideFailure, ShopTheme, TemplateOverride

    sku = product(custom_shop, name="Brand bag")
    alpha_sku = product(alpha, name="Alpha bag")
    with in_shop(custom_shop):
        _row, problem = services.override_save_draft(
            custom_shop, "templates/product", "<h1 class='brand-own'>{{ product.name | upcase }}</h1>"
        )
        assert problem is None
        services.override_publish(custom_shop, "templates/product", actor="test")
    assert "brand-own" in product_page(custom_shop, sku.product_id) and "BRAND BAG" in product_page(
        custom_shop, sku.product_id
    )
    assert "brand-own" not in product_page(alpha, alpha_sku.product_id)  # never reaches another shop
    # a draft with an error is refused with file and line; the live override stays
    staff = english(owner_client(custom_shop))
    staff.post(
        "/console/theme/code/", {"action": "save", "name": "templates/product", "source": "ok\n{{ x | nosuch }}"}
    )
    refused = staff.post("/console/theme/code/", {"action": "publish", "name": "templates/product"})
    assert refused.status_code == 400 and "templates/product:2" in refused.content.decode()
    assert "brand-own" in product_page(custom_shop, sku.product_id)
    # an override that fails only on live data falls back to the theme and tells the merchant
    with in_shop(custom_shop):
        TemplateOverride.objects.filter(name="templates/product").update(
            source="{% for i in (1..product.id) %}{% for j in (1..100000) %}x{% endfor %}{% endfor %}", draft=None
        )
        ShopTheme.objects.filter(pk=1).update(override_revision=999)
        from django.core.cache import cache

        from shop.storefront.theming import ROW_KEY

        cache.delete(ROW_KEY)  # the console's services do this on commit
    live = product_page(custom_shop, sku.product_id)
    assert "Brand bag" in live and "brand-own" not in live and "Traceback" not in live
    with in_shop(custom_shop):
        failure = OverrideFailure.objects.get()
        assert failure.name == "templates/product" and "limit" in failure.message


def test_overrides_need_the_custom_tier(alpha: Any) -> None:
    from platform_core.features import FeatureError
    from shop.storefront import services

    with in_shop(alpha), pytest.raises(FeatureError):
        services.override_save_draft(alpha, "templates/product", "x")
    assert owner_client(alpha).get("/console/theme/code/").status_code == 403


def test_block_configuration_cannot_inject_html(alpha: Any) -> None:
    from shop.decoration import services as decoration

    with in_shop(alpha):
        page = decoration.home_page()
        decoration.page_save_draft(
            page,
            {
                "blocks": [
                    {"type": "notice", "config": {"text": '5 > 3 " onmouseover="alert(1)'}},
                    {
                        "type": "rich_text",
                        "config": {
                            "html": "<p onclick='x()'>Hi<script>alert(3)</script></p><a href='javascript:alert(4)'>l</a>"
                        },
                    },
                ]
            },
            tenant=alpha,
        )
        decoration.page_publish(page, tenant=alpha, by="test")
    html = shop_client(alpha).get("/").content.decode()
    assert "<script>alert" not in html and 'onmouseover="alert' not in html and "onclick" not in html
    assert "javascript:alert" not in html
    assert "5 &gt; 3 &#34; onmouseover=&#34;alert(1)" in html and "<p>Hi</p>" in html
    # tags in a plain-text field are refused at save time, with the field's path
    from django.core.exceptions import ValidationError

    with in_shop(alpha), pytest.raises(ValidationError) as refused:
        decoration.page_save_draft(
            decoration.home_page(),
            {"blocks": [{"type": "notice", "config": {"text": "<script>x</script>"}}]},
            tenant=alpha,
        )
    assert "blocks[0].config.text" in refused.value.message_dict


def test_theme_assets_have_hashed_names_and_long_cache(alpha: Any) -> None:
    import re

    html = shop_client(alpha).get("/").content.decode()
    css = re.search(r'href="(/media/public/themes/[^"]+\.([0-9a-f]{12})\.css)"', html)
    assert css, html[:800]
    response = shop_client(alpha).get(css.group(1))
    assert response.status_code == 200 and "immutable" in response["Cache-Control"]
    # a shop host never serves another shop's media folder
    assert shop_client(alpha).get("/media/shop_beta/anything.png").status_code == 404


def test_suspended_notice_is_the_shops_themed_page(alpha: Any) -> None:
    from django_tenants.utils import schema_context

    from tenants.models import Tenant

    with schema_context("public"):
        Tenant.objects.filter(pk=alpha.pk).update(status="suspended")
    response = english(shop_client(alpha)).get("/")
    assert response.status_code == 503
    body = response.content.decode()
    assert "This shop is closed for now" in body and "theme-" in body
    assert owner_client(alpha).get("/console/").status_code == 200  # the console stays open


def test_published_theme_settings_for_app_clients(alpha: Any, beta: Any) -> None:
    from shop.storefront import services

    with in_shop(alpha):
        services.theme_choose(alpha, "fresh")
        services.settings_save_draft(alpha, {"brand_color": "#00aa00"})
        before = shop_client(alpha).get("/api/v1/theme/").json()
        assert before["settings"].get("brand_color") != "#00aa00"  # drafts never leak
        services.theme_publish(alpha, actor="test")
    data = shop_client(alpha).get("/api/v1/theme/").json()
    assert data["theme"] == "fresh" and data["settings"]["brand_color"] == "#00aa00"
    assert shop_client(beta).get("/api/v1/theme/").json()["settings"].get("brand_color") != "#00aa00"


def test_cached_home_body_never_carries_one_visitors_data_to_another(alpha: Any) -> None:
    from tests.storefront.test_pages import logged_in

    product(alpha, name="Shared tea")
    client, buyer = logged_in(alpha, "13100131000")
    first = client.get("/").content.decode()
    assert "Shared tea" in first
    guest = shop_client(alpha).get("/").content.decode()  # served from the cached body
    assert "Shared tea" in guest
    assert buyer.display_name not in guest
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else None
    if token:
        assert token not in guest


def _png(width: int = 40, height: int = 20) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_logo_upload_is_checked_and_only_the_shops_own_media_is_accepted(alpha: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from shop.storefront import services
    from shop.storefront.models import ShopTheme

    with in_shop(alpha):
        services.theme_choose(alpha, "allround")
    staff = english(owner_client(alpha))
    fake = SimpleUploadedFile("logo.png", b"<script>not an image</script>", content_type="image/png")
    refused = staff.post("/console/theme/", {"action": "settings", "f_logo": fake})
    assert refused.status_code == 400 and "not a JPEG, PNG, WebP or GIF" in refused.content.decode()
    foreign = staff.post("/console/theme/", {"action": "settings", "s_logo": "/media/shop_beta/decoration/x.png"})
    assert foreign.status_code == 400 and "Upload an image for this setting." in foreign.content.decode()
    logo = SimpleUploadedFile("logo.png", _png(), content_type="image/png")
    assert staff.post("/console/theme/", {"action": "settings", "f_logo": logo}).status_code == 302
    with in_shop(alpha):
        draft = ShopTheme.current().draft
        assert draft is not None
        url = draft["settings"]["logo"]
    assert url.startswith(f"/media/{alpha.schema_name}/")
    staff.post("/console/theme/", {"action": "publish"})
    home = shop_client(alpha).get("/").content.decode()
    assert f'<img src="{url}"' in home
    assert shop_client(alpha).get(url).status_code == 200


def test_custom_tier_assets_are_checked_and_used_by_overrides(custom_shop: Any, alpha: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    sku = product(custom_shop, name="Asset bag")
    staff = english(owner_client(custom_shop))
    disguised = SimpleUploadedFile("evil.png", b"alert(document.cookie)", content_type="image/png")
    refused = staff.post("/console/theme/code/", {"action": "asset_upload", "file": disguised})
    assert refused.status_code == 400 and "not a JPEG, PNG, WebP or GIF" in refused.content.decode()
    markup = SimpleUploadedFile("brand.css", b"body{color:red}</style><script>x()</script>", content_type="text/css")
    assert staff.post("/console/theme/code/", {"action": "asset_upload", "file": markup}).status_code == 400
    script = SimpleUploadedFile("x.js", b"alert(1)", content_type="application/javascript")
    assert staff.post("/console/theme/code/", {"action": "asset_upload", "file": script}).status_code == 400
    good = SimpleUploadedFile("theme.css", b".theme-allround{background:#fafafa}", content_type="text/css")
    assert staff.post("/console/theme/code/", {"action": "asset_upload", "file": good}).status_code == 302
    page = product_page(custom_shop, sku.product_id)
    css = [u for u in page.split('"') if "/theme-assets/theme." in u]
    assert css and css[0].startswith(f"/media/{custom_shop.schema_name}/theme-assets/")  # replaces the theme's
    served = shop_client(custom_shop).get(css[0])
    assert served.status_code == 200 and "immutable" in served["Cache-Control"]
    assert shop_client(alpha).get(css[0]).status_code == 404  # another shop's host never serves it
    # an uploaded .liquid file becomes the draft of its template
    upload = SimpleUploadedFile("product.liquid", b"<p class='uploaded'>{{ product.name }}</p>", "text/plain")
    staff.post("/console/theme/code/", {"action": "save", "name": "templates/product", "source_file": upload})
    staff.post("/console/theme/code/", {"action": "publish", "name": "templates/product"})
    assert "class='uploaded'" in product_page(custom_shop, sku.product_id) or 'class="uploaded"' in product_page(
        custom_shop, sku.product_id
    )
