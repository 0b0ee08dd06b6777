"""A merchant opens a shop from a phone: signup (a field error first), the console on the
shop's own host, the storefront, logging out and in again. And an unknown host's 404."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings

from tests.browser.conftest import LiveSite, chinese_renders, orm

if TYPE_CHECKING:
    from playwright.sync_api import Page

SHOP_NAME = "小鹿茶铺"
SLUG = "xiaolu-tea"
EMAIL = "owner@xiaolu.test"
WEAK_PASSWORD = "12345678"  # entirely numeric and too common
STRONG_PASSWORD = "deer-tea-leaves-2718"


def shop_state(slug: str) -> dict[str, Any] | None:
    """The shop and its owner as stored (None: no shop), read in a worker thread."""

    def read() -> dict[str, Any] | None:
        from django.contrib.auth import get_user_model
        from django_tenants.utils import schema_context

        from tenants.models import Domain, Tenant

        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            return None
        with schema_context(tenant.schema_name):
            owners = list(get_user_model().objects.filter(is_owner=True).values_list("email", flat=True))
        return {
            "name": tenant.name,
            "status": tenant.status,
            "domains": list(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True)),
            "owners": owners,
        }

    return orm(read)


def fits_the_screen(page: Page) -> bool:
    """No sideways scrolling at phone width."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_merchant_signs_up_on_a_phone_and_runs_their_shop(
    phone: Page, live_site: LiveSite, live_db: list[str], shot: Callable[..., Path]
) -> None:
    from playwright.sync_api import expect

    live_db.append(SLUG)  # removed after the test, whatever happens
    page = phone
    console_url = live_site.url("/console/", shop=SLUG)

    # the platform's signup page
    page.goto(live_site.url("/signup/"))
    expect(page.locator("h1")).to_have_text("开通您的分销商城")
    assert chinese_renders(page, "h1")
    page.locator("#name").fill(SHOP_NAME)
    page.locator("#slug").fill(SLUG)
    page.locator("#email").fill(EMAIL)
    page.locator("#password").fill(WEAK_PASSWORD)
    shot("1-signup-filled")
    assert fits_the_screen(page)

    # a weak password: the field error in the page, what was typed kept, no shop
    page.get_by_role("button", name="立即开店").tap()
    password_errors = page.locator("#password + .hint + ul.errors")
    expect(password_errors).to_be_visible()
    expect(password_errors).to_contain_text("这个密码太常见了")
    expect(password_errors).to_contain_text("密码只包含数字")
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator("#name")).to_have_value(SHOP_NAME)
    expect(page.locator("#slug")).to_have_value(SLUG)
    expect(page.locator("#email")).to_have_value(EMAIL)
    assert page.url == live_site.url("/signup/")
    shot("2-signup-weak-password")
    assert fits_the_screen(page)
    assert shop_state(SLUG) is None
    other_tab = page.context.new_page()
    nothing = other_tab.goto(live_site.url("/", shop=SLUG))
    assert nothing is not None and nothing.status == 404  # the unknown-host page
    expect(other_tab.locator("main strong")).to_have_text(f"{SLUG}.{settings.PLATFORM_DOMAIN}")
    other_tab.close()

    # a strong password: the shop is live and its owner lands in its console, logged in
    page.locator("#password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="立即开店").tap()
    page.wait_for_url(console_url)
    expect(page.locator("h1")).to_have_text(f"欢迎来到{SHOP_NAME}")
    expect(page.locator("header.top .brand")).to_contain_text(SHOP_NAME)
    assert chinese_renders(page, "h1")
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    shot("3-console")
    assert fits_the_screen(page)
    assert shop_state(SLUG) == {
        "name": SHOP_NAME,
        "status": "active",
        "domains": [f"{SLUG}.{settings.PLATFORM_DOMAIN}"],
        "owners": [EMAIL],
    }

    # the storefront opens in a new tab on the shop's host
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="店铺首页", exact=True).tap()
    storefront = opened.value
    storefront.wait_for_url(live_site.url("/", shop=SLUG))
    expect(storefront.locator("h1")).to_have_text(SHOP_NAME)
    assert chinese_renders(storefront, "h1")
    expect(storefront.locator("header.top .brand")).to_have_text(SHOP_NAME)
    expect(storefront.get_by_text("欢迎光临！商品即将上架，敬请期待。")).to_be_visible()
    shot("4-storefront", page=storefront)
    assert fits_the_screen(storefront)
    storefront.close()

    # log out: the console asks for a login again
    page.get_by_role("button", name="退出登录").tap()
    page.wait_for_url(live_site.url("/console/login/", shop=SLUG))
    expect(page.locator("h1")).to_have_text("登录您的店铺")
    page.goto(console_url)
    page.wait_for_url(live_site.url("/console/login/?next=/console/", shop=SLUG))
    shot("5-login")
    assert fits_the_screen(page)

    # log in again with email and password
    page.get_by_label("邮箱").fill(EMAIL)
    page.get_by_label("密码").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).tap()
    page.wait_for_url(console_url)
    expect(page.locator("h1")).to_have_text(f"欢迎来到{SHOP_NAME}")
    shot("6-console-again")


def test_unknown_host_shows_the_404_page(phone: Page, live_site: LiveSite, shot: Callable[..., Path]) -> None:
    from playwright.sync_api import expect

    page = phone
    response = page.goto(live_site.url("/", host="nosuch.localhost"))
    assert response is not None and response.status == 404
    expect(page.locator("p.big")).to_have_text("404")
    expect(page.locator("h1")).to_have_text("此地址下没有店铺")
    assert chinese_renders(page, "h1")
    expect(page.locator("main strong")).to_have_text("nosuch.localhost")
    shot("404")
    assert fits_the_screen(page)


# --- a slow signup, a double click, the same form sent twice -------------------------------
class HeldSignup:
    """Holds every signup at the server (the live server runs in this process) until
    released, and counts the signup POSTs that reach it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from tenants import views

        self.real = views.shop_signup
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)
        self.count = 0
        monkeypatch.setattr(views, "shop_signup", self)

    def __call__(self, **kwargs: Any) -> Any:
        self.count += 1
        self.arrived.release()
        if not self.release.wait(30):
            raise AssertionError("the held signup was never released")
        return self.real(**kwargs)

    def wait_arrived(self, timeout: float = 15) -> bool:
        return self.arrived.acquire(timeout=timeout)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldSignup]:
    signup = HeldSignup(monkeypatch)
    yield signup
    signup.release.set()  # whatever happened, no server thread stays held


SIGNUP_PAGE_STATE = """(() => {
  const visible = (id) => { const e = document.getElementById(id); return e.hidden ? null : e.textContent.trim(); };
  return {
    disabled: document.querySelector("#signup button[type=submit]").disabled,
    busy: document.getElementById("signup").getAttribute("aria-busy"),
    progress: visible("signup-progress"),
    slow: visible("signup-slow"),
    fits: document.documentElement.scrollWidth <= window.innerWidth,
  };
})()"""


def shops_of(email: str) -> int:
    from tenants.models import Tenant

    return Tenant.objects.filter(owner_email=email).count()


def fill_signup(page: Page, name: str, slug: str, email: str, password: str) -> None:
    page.locator("#name").fill(name)
    page.locator("#slug").fill(slug)
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)


def test_a_slow_signup_shows_its_progress_and_a_double_click_opens_one_shop(
    phone: Page,
    live_site: LiveSite,
    live_db: list[str],
    shot: Callable[..., Path],
    held: HeldSignup,
) -> None:
    from playwright.sync_api import expect

    slug, email = "slow-tea", "owner@slow-tea.test"
    live_db.append(slug)
    page = phone
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/signup/") else None)
    page.goto(live_site.url("/signup/"))
    fill_signup(page, "慢慢茶铺", slug, email, STRONG_PASSWORD)
    filled = shot("0-filled")
    # While the server works the page's navigation is pending, and Playwright's calls on the
    # page would wait for it: the page reports its state on the console instead, and the
    # keyboard and screenshots go through the DevTools protocol.
    states: list[dict[str, Any]] = []
    page.on("console", lambda m: states.append(json.loads(m.text[6:])) if m.text.startswith("state ") else None)
    page.evaluate(f"setInterval(() => console.log('state ' + JSON.stringify({SIGNUP_PAGE_STATE})), 100)")
    devtools = page.context.new_cdp_session(page)
    page.get_by_role("button", name="立即开店").dblclick(no_wait_after=True)
    assert held.wait_arrived(), "the signup never reached the server"
    page.wait_for_timeout(1000)
    state = states[-1]  # the button is disabled and the page says what is happening
    assert state["disabled"] and state["busy"] == "true"
    assert state["progress"] == "正在开通您的店铺和商家后台…" and state["slow"] is None
    assert state["fits"]
    for kind in ("keyDown", "keyUp"):  # Enter in the password field: nothing is sent again
        devtools.send("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter", "text": "\r"})
    page.wait_for_timeout(3000)
    state = states[-1]
    assert state["slow"] is not None and "无需再次点击" in state["slow"]  # still working after a few seconds
    assert state["disabled"] and state["progress"] is not None
    image = devtools.send("Page.captureScreenshot", {"format": "png"})["data"]
    filled.with_name(filled.name.replace("0-filled", "1-progress")).write_bytes(base64.b64decode(image))
    held.release.set()
    page.wait_for_url(live_site.url("/console/", shop=slug))
    expect(page.locator("h1")).to_have_text("欢迎来到慢慢茶铺")
    shot("2-console")
    assert posts == [live_site.url("/signup/")] and held.count == 1
    assert shop_state(slug) == {
        "name": "慢慢茶铺",
        "status": "active",
        "domains": [f"{slug}.{settings.PLATFORM_DOMAIN}"],
        "owners": [email],
    }


def test_the_same_form_sent_again_opens_the_same_shop_without_an_error(
    phone: Page, live_site: LiveSite, live_db: list[str], shot: Callable[..., Path]
) -> None:
    """The first submission opened the shop but its answer never reached the browser (a
    dropped connection); the merchant presses the button again."""
    from playwright.sync_api import expect

    slug, email = "again-tea", "owner@again-tea.test"
    live_db.append(slug)
    page = phone
    page.goto(live_site.url("/signup/"))
    fill_signup(page, "再来茶铺", slug, email, STRONG_PASSWORD)
    form: dict[str, str | float | bool] = {
        "csrfmiddlewaretoken": page.locator("#signup input[name=csrfmiddlewaretoken]").input_value(),
        "name": "再来茶铺",
        "slug": slug,
        "email": email,
        "password": STRONG_PASSWORD,
        "tier": "standard",
    }
    first = page.request.post(live_site.url("/signup/"), form=form)
    assert first.status == 200 and 'name="token"' in first.text(), first.text()
    assert shop_state(slug) is not None
    page.get_by_role("button", name="立即开店").tap()
    page.wait_for_url(live_site.url("/console/", shop=slug))
    expect(page.locator("h1")).to_have_text("欢迎来到再来茶铺")
    shot("console")
    state = shop_state(slug)
    assert state is not None and state["owners"] == [email]
    assert orm(lambda: shops_of(email)) == 1

    # another merchant who picks the same address is told it is taken, as before
    other = page.context.new_page()
    other.goto(live_site.url("/signup/"))
    fill_signup(other, "再来茶铺", slug, "someone@else.test", STRONG_PASSWORD)
    other.get_by_role("button", name="立即开店").tap()
    expect(other.locator("#slug ~ ul.errors, .slug-row + .hint + ul.errors")).to_contain_text("已被占用")
    other.close()


def test_without_javascript_a_double_click_still_opens_one_shop(
    phone: Page,
    live_site: LiveSite,
    live_db: list[str],
    shot: Callable[..., Path],
    held: HeldSignup,
) -> None:
    """No script to disable the button (Chromium itself sends the form once; other browsers
    may send it twice, which the server answers with the same shop: test_signup.py). The
    hand-off page's button logs the owner in without a script too."""
    from playwright.sync_api import expect

    from tests.browser.conftest import PHONE

    slug, email = "nojs-tea", "owner@nojs-tea.test"
    live_db.append(slug)
    browser = phone.context.browser
    assert browser is not None
    context = browser.new_context(**PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(live_site.url("/signup/"))
        fill_signup(page, "无脚本茶铺", slug, email, STRONG_PASSWORD)
        page.get_by_role("button", name="立即开店").dblclick(no_wait_after=True)
        assert held.wait_arrived(), "the signup never reached the server"
        held.release.set()
        # no script on the hand-off page either: its button logs the owner in
        expect(page.locator("h1")).to_have_text("欢迎来到无脚本茶铺")
        expect(page.get_by_text("您的店铺已开通。")).to_be_visible()
        expect(page.get_by_text("正在进入商家后台…")).to_be_hidden()  # no "opening…" promise without a script
        shot("hand-off-without-javascript", page=page)
        page.get_by_role("button", name="进入我的商家后台").click()
        page.wait_for_url(live_site.url("/console/", shop=slug))
        expect(page.locator("h1")).to_have_text("欢迎来到无脚本茶铺")
        shot("console-without-javascript", page=page)
    finally:
        context.close()
    assert held.count in (1, 2)
    state = shop_state(slug)
    assert state is not None and state["owners"] == [email]


def test_a_login_link_from_the_api_asks_before_logging_in(
    phone: Page, live_site: LiveSite, live_db: list[str], shot: Callable[..., Path]
) -> None:
    """The signup API's login_url, opened in a browser: the page names the shop and the
    owner and logs in only on a tap (a link alone never logs anybody in)."""
    from playwright.sync_api import expect

    slug, email = "api-tea", "owner@api-tea.test"
    live_db.append(slug)
    page = phone
    created = page.request.post(
        live_site.url("/api/v1/signup/"),
        data={"name": "接口茶铺", "slug": slug, "email": email, "password": STRONG_PASSWORD},
    )
    assert created.status == 201, created.text()
    page.goto(created.json()["login_url"])
    expect(page.locator("h1")).to_have_text("欢迎来到接口茶铺")
    expect(page.get_by_text(f"以 {email} 的身份登录本店铺的商家后台？")).to_be_visible()
    expect(page.get_by_text("别人发来的登录链接会让您登录到他们的店铺")).to_be_visible()
    shot("confirm")
    assert fits_the_screen(page)
    page.wait_for_timeout(300)
    assert page.url.startswith(live_site.url("/console/handoff/", shop=slug))  # still asking
    page.get_by_role("button", name="进入我的商家后台").tap()
    page.wait_for_url(live_site.url("/console/", shop=slug))
    expect(page.locator("h1")).to_have_text("欢迎来到接口茶铺")
