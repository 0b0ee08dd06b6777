"""Every block type's schema, through the console API a merchant's editor uses: good
configs are saved cleaned, bad ones answer 400 with the error at the field's path and leave
the draft as it was; script, on* handlers and javascript: links never get through."""

from __future__ import annotations

from typing import Any

import pytest

from shop.decoration.models import Page
from tenants.services import tenant_set_feature_override
from tests.conftest import in_shop, owner_client, shop_client
from tests.decoration.helpers import block, category, draft_url, media, product, put

pytestmark = pytest.mark.django_db


def save(tenant: Any, blocks: Any, slug: str = "home") -> Any:
    return put(owner_client(tenant), draft_url(slug), {"blocks": blocks})


def saved_draft(tenant: Any) -> list[dict[str, Any]]:
    with in_shop(tenant):
        return list(Page.objects.get(slug="home").draft_blocks)


def test_one_of_every_block_type_is_saved_with_defaults_filled_in(alpha: Any) -> None:
    cat = category(alpha, "女装")
    pid = product(alpha)
    blocks = [
        block(
            "banner",
            "hero",
            slides=[{"image": media(alpha), "link": {"type": "product", "id": pid}}, {"image": media(alpha, "b.jpg")}],
        ),
        block("product_grid", source="category", category=cat, limit=4, columns=3, title="新品"),
        block("product_grid", source="manual", product_ids=[pid]),
        block("product_grid"),
        block("category_nav", categories=[cat], layout="scroll"),
        block("search", placeholder="搜索商品"),
        block("notice", text="全场满 99 包邮 (满100<200)", link={"type": "search", "q": "包邮"}),
        block("coupons", template_ids=[1, 2]),
        block("distributor_recruit", title="成为推广员", text="分享赚佣金", button="立即加入"),
        block("rich_text", html="<p>Hello <strong>world</strong></p>"),
        block(
            "hotspots",
            image=media(alpha),
            hotspots=[{"x": 0, "y": 0, "w": 50.5, "h": 100, "link": {"type": "category", "id": cat}}],
        ),
        block("spacer", height=24),
    ]
    response = save(alpha, blocks)
    assert response.status_code == 200, response.content
    stored = saved_draft(alpha)
    assert [b["type"] for b in stored] == [b["type"] for b in blocks]
    assert stored[0]["id"] == "hero" and all(b["id"] for b in stored)
    assert stored[0]["config"]["interval"] == 4  # default
    assert stored[0]["config"]["slides"][1] == {"image": media(alpha, "b.jpg"), "alt": "", "link": None}
    assert stored[3]["config"] == {
        "title": "",
        "source": "newest",
        "category": None,
        "product_ids": [],
        "limit": 6,
        "columns": 2,
    }
    assert stored[6]["config"]["text"] == "全场满 99 包邮 (满100<200)"
    assert stored[10]["config"]["hotspots"][0]["w"] == 50.5
    assert response.json()["blocks"] == stored


def test_unknown_keys_are_dropped_from_a_config(alpha: Any) -> None:
    assert save(alpha, [block("spacer", height=10, onload="alert(1)", style="x")]).status_code == 200
    assert saved_draft(alpha)[0]["config"] == {"height": 10}


MEDIA_ALPHA = "/media/shop_alpha/h.png"
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("banner", {"slides": []}, "slides"),
    ("banner", {"slides": [{"image": ""}]}, "slides[0].image"),
    ("banner", {"slides": [{"image": "https://evil.example/x.png"}]}, "slides[0].image"),
    ("banner", {"slides": [{"image": "/media/shop_beta/decoration/x.png"}]}, "slides[0].image"),
    ("banner", {"slides": [{"image": "/media/shop_alpha/../shop_beta/x.png"}]}, "slides[0].image"),
    ("banner", {"slides": [{"image": "@", "link": None}] * 11}, "slides"),
    ("banner", {"slides": "nope"}, "slides"),
    ("banner", {"interval": 1}, "interval"),
    ("banner", {"interval": "soon"}, "interval"),
    ("product_grid", {"limit": 0}, "limit"),
    ("product_grid", {"limit": 21}, "limit"),
    ("product_grid", {"limit": True}, "limit"),
    ("product_grid", {"limit": 2.5}, "limit"),
    ("product_grid", {"columns": 4}, "columns"),
    ("product_grid", {"columns": 1}, "columns"),
    ("product_grid", {"source": "tag"}, "source"),
    ("product_grid", {"source": "category"}, "category"),
    ("product_grid", {"source": "category", "category": 99999999}, "category"),
    ("product_grid", {"source": "category", "category": "abc"}, "category"),
    ("product_grid", {"source": "manual"}, "product_ids"),
    ("product_grid", {"source": "manual", "product_ids": [99999999]}, "product_ids"),
    ("product_grid", {"source": "manual", "product_ids": ["x"]}, "product_ids"),
    ("product_grid", {"source": "manual", "product_ids": list(range(1, 22))}, "product_ids"),
    ("product_grid", {"title": "x" * 41}, "title"),
    ("category_nav", {"layout": "carousel"}, "layout"),
    ("category_nav", {"categories": [99999999]}, "categories"),
    ("category_nav", {"categories": "all"}, "categories"),
    ("search", {"placeholder": "x" * 41}, "placeholder"),
    ("search", {"placeholder": 5}, "placeholder"),
    ("notice", {"text": ""}, "text"),
    ("notice", {"text": "   "}, "text"),
    ("notice", {"text": "x" * 201}, "text"),
    ("notice", {"text": "hi", "link": {"type": "product"}}, "link.id"),
    ("notice", {"text": "hi", "link": {"type": "page", "slug": "no-such-page"}}, "link.slug"),
    ("notice", {"text": "hi", "link": {"type": "mailto"}}, "link.type"),
    ("notice", {"text": "hi", "link": "https://example.com"}, "link"),
    ("coupons", {"template_ids": []}, "template_ids"),
    ("coupons", {"template_ids": [1, 1]}, "template_ids"),
    ("distributor_recruit", {"button": "Go"}, "title"),
    ("distributor_recruit", {"title": "Join", "button": "x" * 21}, "button"),
    ("rich_text", {"html": ""}, "html"),
    ("rich_text", {"html": "x" * 20_001}, "html"),
    ("rich_text", {"html": "<script>alert(1)</script>"}, "html"),  # nothing left once sanitised
    (
        "hotspots",
        {"image": MEDIA_ALPHA, "hotspots": [{"x": 60, "w": 50, "link": {"type": "search", "q": "a"}}]},
        "hotspots[0].w",
    ),
    (
        "hotspots",
        {"image": MEDIA_ALPHA, "hotspots": [{"y": 10, "h": 95, "link": {"type": "search", "q": "a"}}]},
        "hotspots[0].h",
    ),
    (
        "hotspots",
        {"image": MEDIA_ALPHA, "hotspots": [{"x": -1, "link": {"type": "search", "q": "a"}}]},
        "hotspots[0].x",
    ),
    (
        "hotspots",
        {"image": MEDIA_ALPHA, "hotspots": [{"x": "NaN", "link": {"type": "search", "q": "a"}}]},
        "hotspots[0].x",
    ),
    ("hotspots", {"image": MEDIA_ALPHA, "hotspots": [{"w": 10, "h": 10}]}, "hotspots[0].link"),
    (
        "hotspots",
        {"image": MEDIA_ALPHA, "hotspots": [{"link": {"type": "product", "id": "abc"}}]},
        "hotspots[0].link.id",
    ),
    ("hotspots", {"hotspots": []}, "image"),
    ("spacer", {"height": 0}, "height"),
    ("spacer", {"height": 201}, "height"),
]


@pytest.mark.parametrize(
    ("block_type", "config", "path"), BAD, ids=[f"{t}-{p}-{i}" for i, (t, _c, p) in enumerate(BAD)]
)
def test_a_bad_config_is_a_field_error_at_its_path_and_nothing_is_written(
    alpha: Any, block_type: str, config: dict[str, Any], path: str
) -> None:
    assert save(alpha, [block("spacer", "keep", height=8)]).status_code == 200
    before = saved_draft(alpha)
    blocks = [block("search"), block(block_type, **config)]
    response = save(alpha, blocks)
    assert response.status_code == 400, response.content
    key = f"blocks[1].config.{path}"
    assert key in response.json(), response.json()
    assert all(isinstance(m, str) and m for m in response.json()[key])
    assert saved_draft(alpha) == before


@pytest.mark.parametrize(
    ("blocks", "key"),
    [
        ("not a list", "blocks"),
        ([block("spacer")] * 51, "blocks"),
        (["spacer"], "blocks[0]"),
        ([block("marquee")], "blocks[0].type"),
        ([{"config": {}}], "blocks[0].type"),
        ([block("spacer", "<b>x</b>")], "blocks[0].id"),
        ([block("spacer", "same"), block("spacer", "same")], "blocks[1].id"),
        ([{"type": "spacer", "config": [1]}], "blocks[0].config"),
    ],
)
def test_a_bad_list_of_blocks_is_a_field_error(alpha: Any, blocks: Any, key: str) -> None:
    response = save(alpha, blocks)
    assert response.status_code == 400 and key in response.json(), response.content


def test_a_draft_without_blocks_or_as_a_list_is_refused(alpha: Any) -> None:
    client = owner_client(alpha)
    response = put(client, draft_url(), {"title": "x"})
    assert response.status_code == 400 and "blocks" in response.json()
    response = put(client, draft_url(), [block("spacer")])
    assert response.status_code == 400 and "non_field_errors" in response.json()


def test_errors_are_reported_for_every_bad_block_at_once(alpha: Any) -> None:
    response = save(alpha, [block("spacer", height=0), block("search"), block("product_grid", limit=99)])
    assert response.status_code == 400
    assert set(response.json()) == {"blocks[0].config.height", "blocks[2].config.limit"}


# --- injection ------------------------------------------------------------------------------
def test_rich_text_is_sanitised_on_the_server(alpha: Any) -> None:
    html = (
        '<p onclick="steal()" style="position:fixed">Hi <strong>there</strong></p>'
        "<script>alert(1)</script><SCRIPT SRC=//evil.example/x.js></SCRIPT>"
        '<img src="x" onerror="alert(1)"><img src="javascript:alert(2)">'
        '<a href="javascript:alert(3)">bad</a><a href="JaVaScRiPt:alert(4)">bad2</a>'
        '<a href="https://example.com/ok">good</a><iframe src="https://evil.example"></iframe>'
        "<style>body{display:none}</style><svg onload=alert(5)></svg><!-- <script> -->"
        '<form action="https://evil.example"><input name="pw"></form>'
    )
    assert save(alpha, [block("rich_text", html=html)]).status_code == 200
    clean = saved_draft(alpha)[0]["config"]["html"]
    lowered = clean.lower()
    for bad in (
        "<script",
        "onclick",
        "onerror",
        "onload",
        "javascript:",
        "<iframe",
        "<style",
        "<svg",
        "<form",
        "<input",
        "style=",
    ):
        assert bad not in lowered, (bad, clean)
    assert "<strong>there</strong>" in clean
    assert '<a href="https://example.com/ok" rel="noopener noreferrer nofollow">good</a>' in clean


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/phish",
        "/\\evil.example",
        "https://",
        "ftp://example.com/file",
        "http://exa mple.com",
    ],
)
def test_links_never_run_script_or_leave_for_odd_schemes(alpha: Any, url: str) -> None:
    link = {"type": "url", "url": url}
    blocks = [
        block("notice", text="hi", link=link),
        block("banner", slides=[{"image": media(alpha), "link": link}]),
        block("hotspots", image=media(alpha), hotspots=[{"link": link}]),
    ]
    response = save(alpha, blocks)
    assert response.status_code == 400
    assert {
        "blocks[0].config.link.url",
        "blocks[1].config.slides[0].link.url",
        "blocks[2].config.hotspots[0].link.url",
    } <= set(response.json())


@pytest.mark.parametrize(
    "url", ["https://example.com/a?b=1#c", "http://example.com", "/products/?q=tea", "/pages/about/"]
)
def test_http_and_site_paths_are_fine_links(alpha: Any, url: str) -> None:
    assert save(alpha, [block("notice", text="hi", link={"type": "url", "url": url})]).status_code == 200
    assert saved_draft(alpha)[0]["config"]["link"] == {"type": "url", "url": url}


@pytest.mark.parametrize(
    ("block_type", "field", "value"),
    [
        ("notice", "text", "<img src=x onerror=alert(1)>"),
        ("notice", "text", "<script>alert(1)</script>"),
        ("search", "placeholder", '"><svg onload=alert(1)>'),
        ("product_grid", "title", "</title><script>x</script>"),
        ("distributor_recruit", "text", "<a href='javascript:x'>join</a>"),
    ],
)
def test_plain_text_fields_refuse_markup(alpha: Any, block_type: str, field: str, value: str) -> None:
    config: dict[str, Any] = {"text": "ok", "title": "ok", "button": "ok"} if block_type != "search" else {}
    config[field] = value
    response = save(alpha, [block(block_type, **config)])
    assert response.status_code == 400 and f"blocks[0].config.{field}" in response.json(), response.content


# --- tiers ------------------------------------------------------------------------------------
def test_the_registry_lists_only_what_the_tier_allows(alpha: Any, beta: Any) -> None:
    def types(tenant: Any) -> set[str]:
        response = owner_client(tenant).get("/api/v1/console/blocks/")
        assert response.status_code == 200
        body = response.json()
        assert body["max_blocks"] == 50
        for spec in body["types"]:
            assert spec["label"] and isinstance(spec["fields"], list) and isinstance(spec["defaults"], dict)
        return {spec["type"] for spec in body["types"]}

    standard, pro = types(alpha), types(beta)
    assert {"banner", "product_grid", "rich_text", "coupons", "spacer"} <= standard
    assert "flash_sale" not in standard and "group_buy" not in standard
    assert {"flash_sale", "group_buy", "coupons"} <= pro
    tenant_set_feature_override(alpha, "coupons", False, actor=None)
    assert "coupons" not in types(alpha)


def test_a_block_the_tier_lacks_cannot_be_saved(alpha: Any, beta: Any) -> None:
    response = save(alpha, [block("flash_sale"), block("group_buy")])
    assert response.status_code == 400
    assert {"blocks[0].type", "blocks[1].type"} <= set(response.json())
    assert save(beta, [block("flash_sale", title="秒杀"), block("group_buy")]).status_code == 200


def test_the_field_spec_drives_the_editor(beta: Any) -> None:
    body = owner_client(beta).get("/api/v1/console/blocks/").json()
    grid = next(s for s in body["types"] if s["type"] == "product_grid")
    fields = {f["name"]: f for f in grid["fields"]}
    assert fields["limit"]["min"] == 1 and fields["limit"]["max"] == 20
    assert fields["columns"]["min"] == 2 and fields["columns"]["max"] == 3
    assert [c[0] for c in fields["source"]["choices"]] == ["category", "manual", "newest", "best_sellers"]
    assert fields["product_ids"]["show_if"] == {"source": ["manual"]}


def test_only_console_staff_use_the_editor_api(alpha: Any) -> None:
    anonymous = shop_client(alpha)
    assert anonymous.get("/api/v1/console/blocks/").status_code in (401, 403)
    assert put(anonymous, draft_url(), {"blocks": []}).status_code in (401, 403)
    assert anonymous.post("/api/v1/console/pages/home/publish/").status_code in (401, 403)
