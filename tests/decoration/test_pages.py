"""Pages: draft, publish, versions, rollback, the public JSON a mini-program renders (with
products resolved in a bounded number of queries), tier gating at render time, and shops
never seeing each other's pages or products."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from PIL import Image

from shop.decoration import services
from shop.decoration.models import Page, PageVersion
from tenants.services import tenant_set_feature_override
from tests.conftest import host_of, in_shop, owner_client, shop_client
from tests.decoration.helpers import block, category, draft_url, media, post, product, put

pytestmark = pytest.mark.django_db


def public(tenant: Any, slug: str = "home") -> Any:
    return shop_client(tenant).get(f"/api/v1/pages/{slug}/")


def publish(tenant: Any, slug: str = "home") -> Any:
    response = owner_client(tenant).post(f"/api/v1/console/pages/{slug}/publish/")
    assert response.status_code == 200, response.content
    return response.json()


def save(tenant: Any, blocks: list[dict[str, Any]], slug: str = "home", **extra: Any) -> Any:
    response = put(owner_client(tenant), draft_url(slug), {"blocks": blocks, **extra})
    assert response.status_code == 200, response.content
    return response.json()


def create_page(tenant: Any, slug: str = "summer", title: str = "夏日特卖") -> Any:
    return post(owner_client(tenant), "/api/v1/console/pages/", {"slug": slug, "title": title})


# --- pages ------------------------------------------------------------------------------------
def test_every_shop_has_a_home_page_made_on_first_use(alpha: Any) -> None:
    with in_shop(alpha):
        assert not Page.objects.exists()
    response = owner_client(alpha).get("/api/v1/console/pages/")
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()] == ["home"]
    owner_client(alpha).get("/api/v1/console/pages/")
    with in_shop(alpha):
        assert Page.objects.filter(slug="home").count() == 1


def test_two_first_requests_at_once_share_one_home_page(alpha: Any) -> None:
    """The second request finds no home page, then loses the insert to the first: it gets
    the first one's row instead of an error."""
    with in_shop(alpha):
        first = services.home_page()
        with mock.patch.object(QuerySet, "first", return_value=None):
            second = services.home_page()
        assert second.pk == first.pk
        assert Page.objects.filter(slug="home").count() == 1


def test_an_unpublished_home_page_answers_with_no_blocks(alpha: Any) -> None:
    response = public(alpha)
    assert response.status_code == 200
    assert response.json()["blocks"] == [] and response.json()["version"] == 0


def test_custom_pages_are_created_checked_and_deleted(alpha: Any) -> None:
    response = create_page(alpha)
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "summer" and response.json()["url"] == "/pages/summer/"
    for slug, title, field in [
        ("summer", "again", "slug"),
        ("home", "Home 2", "slug"),
        ("Bad Slug!", "x", "slug"),
        ("-x", "x", "slug"),
        ("", "x", "slug"),
        ("ok-page", "", "title"),
        ("ok-page", "x" * 61, "title"),
    ]:
        bad = create_page(alpha, slug, title)
        assert bad.status_code == 400 and field in bad.json(), (slug, title, bad.content)
    with in_shop(alpha):
        assert set(Page.objects.values_list("slug", flat=True)) == {"home", "summer"}
    client = owner_client(alpha)
    assert client.delete("/api/v1/console/pages/home/").status_code == 400
    assert client.delete("/api/v1/console/pages/summer/").status_code == 204
    assert client.delete("/api/v1/console/pages/summer/").status_code == 404
    with in_shop(alpha):
        assert list(Page.objects.values_list("slug", flat=True)) == ["home"]


def test_publish_makes_the_draft_live_as_a_version(alpha: Any) -> None:
    assert create_page(alpha).status_code == 201
    save(alpha, [block("notice", text="第一版")], slug="summer", title="夏日")
    assert public(alpha, "summer").status_code == 404  # never published
    body = publish(alpha, "summer")
    assert body["published_version"] == 1
    live = public(alpha, "summer").json()
    assert live["title"] == "夏日" and live["version"] == 1
    assert [(b["type"], b["config"]["text"]) for b in live["blocks"]] == [("notice", "第一版")]

    save(alpha, [block("notice", text="第二版"), block("spacer", height=20)], slug="summer")
    # the draft is not live until published
    assert public(alpha, "summer").json()["blocks"][0]["config"]["text"] == "第一版"
    assert publish(alpha, "summer")["published_version"] == 2
    assert [b["type"] for b in public(alpha, "summer").json()["blocks"]] == ["notice", "spacer"]

    versions = owner_client(alpha).get("/api/v1/console/pages/summer/versions/").json()
    assert [(v["number"], v["blocks"], v["live"]) for v in versions] == [(2, 2, True), (1, 1, False)]
    assert versions[0]["published_by"] == "owner@alpha.test"


def test_rollback_republishes_an_old_version_and_makes_it_the_draft(alpha: Any) -> None:
    save(alpha, [block("notice", text="v1")])
    publish(alpha)
    save(alpha, [block("notice", text="v2")])
    publish(alpha)
    save(alpha, [block("spacer")])  # unpublished work in progress
    client = owner_client(alpha)
    response = post(client, "/api/v1/console/pages/home/rollback/", {"version": 1})
    assert response.status_code == 200, response.content
    assert response.json()["published_version"] == 3
    assert public(alpha).json()["blocks"][0]["config"]["text"] == "v1"
    assert client.get(draft_url()).json()["blocks"][0]["config"]["text"] == "v1"
    versions = client.get("/api/v1/console/pages/home/versions/").json()
    assert [(v["number"], v["rolled_back_from"]) for v in versions] == [(3, 1), (2, None), (1, None)]
    for bad in [{"version": 9}, {"version": "x"}, {}]:
        refused = post(client, "/api/v1/console/pages/home/rollback/", bad)
        assert refused.status_code == 400 and "version" in refused.json()
    with in_shop(alpha):
        assert PageVersion.objects.count() == 3


def test_a_publish_the_tier_no_longer_allows_is_refused_and_changes_nothing(beta: Any) -> None:
    save(beta, [block("flash_sale", title="秒杀")])
    publish(beta)
    save(beta, [block("flash_sale", title="新秒杀"), block("notice", text="hi")])
    tenant_set_feature_override(beta, "flash_sales", False, actor=None)
    response = owner_client(beta).post("/api/v1/console/pages/home/publish/")
    assert response.status_code == 400 and "blocks[0].type" in response.json()
    with in_shop(beta):
        page = Page.objects.get(slug="home")
        assert page.version == 1 and PageVersion.objects.count() == 1
    # and the live page hides the block the tier lost
    assert public(beta).json()["blocks"] == []


@pytest.mark.parametrize(
    ("block_type", "feature"),
    [("coupons", "coupons"), ("flash_sale", "flash_sales"), ("group_buy", "group_buying")],
)
def test_marketing_blocks_are_hidden_while_the_tier_lacks_them(beta: Any, block_type: str, feature: str) -> None:
    config: dict[str, Any] = {"template_ids": [1]} if block_type == "coupons" else {}
    save(beta, [block(block_type, **config), block("spacer")])
    publish(beta)
    blocks = public(beta).json()["blocks"]
    assert [b["type"] for b in blocks] == [block_type, "spacer"]
    assert blocks[0]["data"] == {"items": []}  # no marketing data yet
    tenant_set_feature_override(beta, feature, False, actor=None)
    assert [b["type"] for b in public(beta).json()["blocks"]] == ["spacer"]


def test_bad_input_leaves_the_draft_and_the_live_page_untouched(alpha: Any) -> None:
    save(alpha, [block("notice", text="good")])
    publish(alpha)
    client = owner_client(alpha)
    bad = put(client, draft_url(), {"blocks": [block("notice", text="changed"), block("spacer", height=999)]})
    assert bad.status_code == 400
    assert client.get(draft_url()).json()["blocks"][0]["config"]["text"] == "good"
    assert public(alpha).json()["blocks"][0]["config"]["text"] == "good"
    with in_shop(alpha):
        assert PageVersion.objects.count() == 1


# --- resolved data ------------------------------------------------------------------------------
def test_the_public_json_resolves_products_and_drops_those_not_on_sale(
    alpha: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tea = product(alpha, "红茶", price=3900, list_price=5900)
    off = product(alpha, "下架品", status="off_sale")
    draft = product(alpha, "草稿品", status="draft")
    cup = product(alpha, "茶杯", price=1500)
    save(
        alpha,
        [
            block("product_grid", "picked", source="manual", product_ids=[off, cup, draft, tea]),
            block("product_grid", "new", source="newest", limit=10),
        ],
    )
    publish(alpha)
    blocks = public(alpha).json()["blocks"]
    picked = blocks[0]["data"]["products"]
    assert [p["id"] for p in picked] == [cup, tea]  # the merchant's order, on-sale only
    assert picked[1] == {
        "id": tea,
        "name": "红茶",
        "subtitle": "",
        "price": 3900,
        "max_price": 3900,
        "price_varies": False,
        "list_price": 5900,
        "sold": 0,
        "image": None,
        "url": f"/products/{tea}/",
    }
    assert picked[0]["list_price"] is None
    assert [p["id"] for p in blocks[1]["data"]["products"]] == [cup, tea]
    # taken off sale later: gone from the live page, which still renders
    from shop.catalogue import services as catalogue
    from shop.catalogue.models import Product

    with in_shop(alpha), django_capture_on_commit_callbacks(execute=True):
        catalogue.product_set_status([Product.objects.get(pk=tea)], "off_sale")
    assert [p["id"] for p in public(alpha).json()["blocks"][0]["data"]["products"]] == [cup]


def test_category_grids_include_subcategories_newest_first_up_to_the_limit(alpha: Any) -> None:
    women = category(alpha, "女装")
    dresses = category(alpha, "连衣裙", parent=women)
    men = category(alpha, "男装")
    a = product(alpha, "A", category=women)
    b = product(alpha, "B", category=dresses)
    c = product(alpha, "C", category=dresses)
    m = product(alpha, "M", category=men)
    save(
        alpha,
        [
            block("product_grid", source="category", category=women, limit=2),
            block("product_grid", source="category", category=dresses, limit=5),
            block("product_grid", source="category", category=men, limit=5),
            block("product_grid", source="best_sellers", limit=2),
            block("category_nav"),
            block("category_nav", categories=[dresses, men]),
        ],
    )
    with in_shop(alpha):
        from shop.catalogue.models import Product

        Product.objects.filter(pk=a).update(sales_count=50)
        Product.objects.filter(pk=m).update(sales_count=10)
    publish(alpha)
    blocks = public(alpha).json()["blocks"]
    assert [p["id"] for p in blocks[0]["data"]["products"]] == [c, b]
    assert blocks[0]["data"]["more_url"] == f"/products/?category={women}"
    assert [p["id"] for p in blocks[1]["data"]["products"]] == [c, b]
    assert [p["id"] for p in blocks[2]["data"]["products"]] == [m]
    assert [p["id"] for p in blocks[3]["data"]["products"]] == [a, m]
    assert [c["name"] for c in blocks[4]["data"]["categories"]] == ["女装", "男装"]
    assert blocks[5]["data"]["categories"] == [
        {"id": dresses, "name": "连衣裙", "url": f"/products/?category={dresses}"},
        {"id": men, "name": "男装", "url": f"/products/?category={men}"},
    ]


def test_links_resolve_to_hrefs(alpha: Any) -> None:
    pid = product(alpha)
    assert create_page(alpha, "about", "关于我们").status_code == 201
    save(
        alpha,
        [
            block(
                "banner",
                slides=[
                    {"image": media(alpha), "link": {"type": "product", "id": pid}},
                    {"image": media(alpha), "link": {"type": "page", "slug": "about"}},
                    {"image": media(alpha), "link": {"type": "search", "q": "红 茶"}},
                    {"image": media(alpha)},
                ],
            ),
            block("notice", text="hi", link={"type": "page", "slug": "home"}),
        ],
    )
    publish(alpha)
    blocks = public(alpha).json()["blocks"]
    assert [s["href"] for s in blocks[0]["data"]["slides"]] == [
        f"/products/{pid}/",
        "/pages/about/",
        "/products/?q=%E7%BA%A2+%E8%8C%B6",
        None,
    ]
    assert blocks[1]["data"]["href"] == "/"


def test_the_whole_page_resolves_in_a_constant_number_of_queries(alpha: Any) -> None:
    cats = [category(alpha, f"类目{i}") for i in range(4)]
    ids = [product(alpha, f"P{i}", category=cats[i % 4]) for i in range(8)]

    def page(copies: int) -> list[dict[str, Any]]:
        blocks = []
        for n in range(copies):
            blocks += [
                block("product_grid", source="manual", product_ids=ids[n : n + 3]),
                block("product_grid", source="category", category=cats[n % 4], limit=3),
                block("product_grid", source="newest", limit=2 + n),
                block("product_grid", source="best_sellers", limit=2 + n),
                block("category_nav"),
                block("banner", slides=[{"image": media(alpha), "link": {"type": "product", "id": ids[n]}}]),
            ]
        return blocks

    def queries(copies: int) -> int:
        with in_shop(alpha):
            tenant = alpha
            from shop.decoration.blocks import clean_blocks, resolve_blocks

            blocks = clean_blocks(page(copies), tenant=tenant)
            with CaptureQueriesContext(connection) as captured:
                resolved = resolve_blocks(blocks, tenant=tenant)
            assert len(resolved) == 6 * copies
            assert all(b["data"]["products"] for b in resolved if b["type"] == "product_grid")
            return len(captured)

    assert queries(1) == queries(4) <= 7


def test_page_for_render_gives_the_theme_published_or_draft_blocks(alpha: Any) -> None:
    pid = product(alpha)
    save(alpha, [block("product_grid", source="manual", product_ids=[pid])])
    with in_shop(alpha):
        live = services.page_for_render("home", draft=False, tenant=alpha)
        draft = services.page_for_render("home", draft=True, tenant=alpha)
        assert services.page_for_render("nope", draft=True, tenant=alpha) is None
    assert live is not None and live["blocks"] == []
    assert draft is not None and draft["draft"] is True
    assert draft["blocks"][0]["data"]["products"][0]["id"] == pid
    assert set(draft["blocks"][0]) == {"id", "type", "config", "data"}


# --- shops apart --------------------------------------------------------------------------------
def test_a_page_of_one_shop_is_nothing_on_another(alpha: Any, beta: Any) -> None:
    assert create_page(alpha, "alpha-only", "Alpha").status_code == 201
    save(alpha, [block("notice", text="alpha's notice")], slug="alpha-only")
    publish(alpha, "alpha-only")
    assert public(alpha, "alpha-only").status_code == 200
    assert public(beta, "alpha-only").status_code == 404
    client = owner_client(beta)
    assert client.get(draft_url("alpha-only")).status_code == 404
    assert put(client, draft_url("alpha-only"), {"blocks": []}).status_code == 404
    assert client.post("/api/v1/console/pages/alpha-only/publish/").status_code == 404
    assert client.get("/api/v1/console/pages/alpha-only/versions/").status_code == 404
    assert post(client, "/api/v1/console/pages/alpha-only/rollback/", {"version": 1}).status_code == 404
    assert client.delete("/api/v1/console/pages/alpha-only/").status_code == 404
    assert "alpha-only" not in [p["slug"] for p in client.get("/api/v1/console/pages/").json()]
    # a console user of alpha is nobody on beta's host
    assert owner_client(alpha).get("/api/v1/console/pages/", HTTP_HOST=host_of(beta)).status_code in (401, 403)


def test_another_shops_product_ids_are_simply_absent(alpha: Any, beta: Any) -> None:
    alpha_product = product(alpha, "Alpha 独家")
    with in_shop(beta):
        from shop.catalogue.models import Product

        assert not Product.objects.filter(pk=alpha_product).exists()
    response = put(
        owner_client(beta),
        draft_url(),
        {"blocks": [block("product_grid", source="manual", product_ids=[alpha_product])]},
    )
    assert response.status_code == 400
    assert "blocks[0].config.product_ids" in response.json()
    # a page stored with an id the shop does not have (e.g. the product was deleted) renders
    with in_shop(beta):
        page = services.home_page()
        page.published_blocks = [
            {"id": "x", "type": "product_grid", "config": {**_grid_defaults(), "product_ids": [alpha_product]}}
        ]
        page.version = 1
        page.save()
    body = public(beta).json()
    assert body["blocks"][0]["data"]["products"] == []


def _grid_defaults() -> dict[str, Any]:
    from shop.decoration.blocks import REGISTRY

    return {**REGISTRY["product_grid"].defaults(), "source": "manual"}


def test_a_broken_stored_block_is_left_out_not_the_page(alpha: Any) -> None:
    with in_shop(alpha):
        page = services.home_page()
        page.published_blocks = [
            {"id": "a", "type": "product_grid", "config": {"source": "manual"}},  # keys missing
            {"id": "b", "type": "retired_type", "config": {}},
            {"id": "c", "type": "spacer", "config": {"height": 10}},
        ]
        page.version = 1
        page.save()
    response = public(alpha)
    assert response.status_code == 200
    assert [b["id"] for b in response.json()["blocks"]] == ["c"]


# --- images ---------------------------------------------------------------------------------------
def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_an_uploaded_image_lands_in_the_shops_media_and_can_be_used(alpha: Any) -> None:
    client = owner_client(alpha)
    upload = SimpleUploadedFile("evil.php", _png(), content_type="application/x-php")
    response = client.post("/api/v1/console/decoration/images/", {"image": upload})
    assert response.status_code == 201, response.content
    url = response.json()["url"]
    assert url.startswith("/media/shop_alpha/decoration/") and url.endswith(".png")
    assert put(client, draft_url(), {"blocks": [block("banner", slides=[{"image": url}])]}).status_code == 200
    # the same address is not this shop's media on beta
    refused = put(owner_client(_beta()), draft_url(), {"blocks": [block("banner", slides=[{"image": url}])]})
    assert refused.status_code == 400 and "blocks[0].config.slides[0].image" in refused.json()
    not_image = SimpleUploadedFile("a.png", b"<?php echo 1; ?>", content_type="image/png")
    bad = client.post("/api/v1/console/decoration/images/", {"image": not_image})
    assert bad.status_code == 400 and "image" in bad.json()
    assert client.post("/api/v1/console/decoration/images/", {}).status_code == 400


def _beta() -> Any:
    from tenants.models import Tenant

    return Tenant.objects.get(slug="beta")


def test_page_for_render_finds_the_shop_from_the_connection(beta: Any) -> None:
    save(beta, [block("flash_sale", title="秒杀")])
    publish(beta)
    with in_shop(beta):  # schema_context: no request, no tenant handed in
        page = services.page_for_render("home", draft=False)
    assert page is not None and [b["type"] for b in page["blocks"]] == ["flash_sale"]


def test_marketing_plugs_its_data_in_once_per_page_and_a_failure_never_breaks_it(beta: Any) -> None:
    from shop.decoration import blocks as registry

    calls: list[list[dict[str, Any]]] = []

    def coupons(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.append(configs)
        return [{"items": [{"id": t, "name": f"券{t}"} for t in c["template_ids"]]} for c in configs]

    save(beta, [block("coupons", template_ids=[1, 2]), block("spacer"), block("coupons", template_ids=[3])])
    publish(beta)
    with mock.patch.dict(registry.DATA_PROVIDERS, {"coupons": coupons}):
        blocks = public(beta).json()["blocks"]
    assert len(calls) == 1 and len(calls[0]) == 2  # one batched call for the whole page
    assert [b["data"] for b in blocks if b["type"] == "coupons"] == [
        {"items": [{"id": 1, "name": "券1"}, {"id": 2, "name": "券2"}]},
        {"items": [{"id": 3, "name": "券3"}]},
    ]

    def broken(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise RuntimeError("marketing is down")

    with in_shop(beta):
        with mock.patch.dict(registry.DATA_PROVIDERS, {"coupons": broken}):
            page = services.page_for_render("home", draft=True)
    assert page is not None
    assert [b["data"] for b in page["blocks"] if b["type"] == "coupons"] == [{"items": []}, {"items": []}]


def test_a_save_based_on_an_outdated_draft_is_refused_not_silently_overwriting(alpha: Any) -> None:
    client = owner_client(alpha)
    opened = client.get(draft_url()).json()["revision"]
    first = put(client, draft_url(), {"blocks": [block("notice", text="tab one")], "revision": opened})
    assert first.status_code == 200 and first.json()["revision"] == opened + 1
    stale = put(client, draft_url(), {"blocks": [block("notice", text="tab two")], "revision": opened})
    assert stale.status_code == 409 and "revision" in stale.json()
    assert client.get(draft_url()).json()["blocks"][0]["config"]["text"] == "tab one"
    fresh = put(client, draft_url(), {"blocks": [block("notice", text="tab two")], "revision": opened + 1})
    assert fresh.status_code == 200
    assert put(client, draft_url(), {"blocks": [], "revision": "x"}).status_code == 400


def test_a_shop_holds_a_bounded_number_of_pages(alpha: Any) -> None:
    with mock.patch.object(services, "MAX_PAGES", 2):
        assert create_page(alpha, "one", "One").status_code == 201
        refused = create_page(alpha, "two", "Two")
    assert refused.status_code == 400 and "slug" in refused.json()
