"""Operators' two-step login in the browser (zh-hans): first login enrols an authenticator from
a QR code drawn by the server, recovery codes shown once; then the code at every login; a
recovery code instead; and a staff member changing their password on the merchant console."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platform_core import totp
from tests.browser.conftest import LiveSite, orm
from tests.browser.test_themes_flow import Browsers, Shop, browsers, log_in, open_shop, shop_text  # noqa: F401
from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

EMAIL = "op-2fa@fenxiao.test"


def _make_operator() -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(email=EMAIL).delete()
    get_user_model().objects.create_superuser(EMAIL, PASSWORD)


def _drop_operator() -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(email=EMAIL).delete()


def _password_step(page: Page, site: LiveSite) -> None:
    page.goto(site.url("/operator/login/"))
    page.locator("#id_username").fill(EMAIL)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()


def _log_out(page: Page) -> None:
    page.locator("#logout-form button").click()
    page.wait_for_url(re.compile(r".*/operator/logout/"))


def test_operator_enrols_then_logs_in_with_a_code_and_with_a_recovery_code(
    browsers: Browsers,  # noqa: F811
    live_site: LiveSite,
    screenshots: Path,
) -> None:
    from playwright.sync_api import expect

    page = browsers.merchant
    shots = Path("/work/shots/inputs") if Path("/work/shots").is_dir() else screenshots
    shots.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"operator-2fa--{name}.png"), full_page=True)

    orm(_make_operator)
    try:
        # --- first login: the password leads to enrolment, not into the console -----------------
        _password_step(page, live_site)
        page.wait_for_url(live_site.url("/operator/login/enrol/"))
        expect(page.locator("h2")).to_have_text("设置两步验证")
        qr = page.locator("#totp-qr svg")
        expect(qr).to_be_visible()
        box = qr.bounding_box()
        assert box is not None and box["width"] >= 120  # big enough to scan
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        shot("1-enrol")
        # nothing of the console yet
        assert page.request.get(live_site.url("/operator/tenants/tenant/"), max_redirects=0).status == 302

        page.locator("#id_code").fill("000000" if totp.code_at(secret) != "000000" else "111111")
        page.locator("input[type=submit]").click()
        expect(page.locator("#code-error")).to_contain_text("验证码不正确")
        shot("2-enrol-wrong-code")

        page.locator("#id_code").fill(totp.code_at(secret))
        page.locator("input[type=submit]").click()
        expect(page.locator("h2")).to_have_text("恢复码")
        codes = [c.strip() for c in page.locator("#recovery-codes li").all_inner_texts()]
        assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", c) for c in codes)
        shot("3-recovery-codes")
        page.locator("#continue").click()
        expect(page.locator("#two-factor-link")).to_contain_text("两步验证")
        shot("4-console")
        _log_out(page)

        # --- next login: the code from the app (the next time step: the last one was used) -------
        _password_step(page, live_site)
        page.wait_for_url(live_site.url("/operator/login/verify/"))
        expect(page.locator("h2")).to_have_text("两步验证")
        shot("5-verify")
        page.locator("#id_code").fill(totp.hotp(secret, totp.step_at() + 1))
        page.locator("input[type=submit]").click()
        expect(page.locator("#two-factor-link")).to_be_visible()
        page.locator("#two-factor-link a").click()
        expect(page.locator("#two-factor-status")).to_contain_text("剩余 10 个恢复码")
        shot("6-two-factor-page")
        _log_out(page)

        # --- without the phone: a recovery code, once ---------------------------------------------
        _password_step(page, live_site)
        page.locator("#id_code").fill(codes[0])
        page.locator("input[type=submit]").click()
        expect(page.locator("body")).to_contain_text("你使用恢复码登录了，还剩 9 个")
        shot("7-recovery-code-used")
        _log_out(page)
        _password_step(page, live_site)
        page.locator("#id_code").fill(codes[0])
        page.locator("input[type=submit]").click()
        expect(page.locator("#code-error")).to_be_visible()
        shot("8-recovery-code-again")
    finally:
        orm(_drop_operator)


def test_staff_member_changes_their_password_in_the_console(
    browsers: Browsers,  # noqa: F811
    live_site: LiveSite,
    open_shop: Callable[..., Shop],  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    page = browsers.merchant
    shots = Path("/work/shots/inputs") if Path("/work/shots").is_dir() else None
    shop = open_shop("pw-change", "standard", [])
    log_in(page, live_site, shop)
    page.get_by_role("link", name=shop_text("Change password")).click()
    expect(page.locator("h1")).to_have_text("修改密码")
    page.locator("#id_old_password").fill("not-my-password-1")
    page.locator("#id_new_password1").fill("new-horse-staple-77")
    page.locator("#id_new_password2").fill("new-horse-staple-77")
    page.get_by_role("button", name="修改密码").click()
    expect(page.locator("#errors-old_password")).to_be_visible()
    if shots:
        page.screenshot(path=str(shots / "console-password--wrong-old.png"), full_page=True)
    page.locator("#id_old_password").fill(PASSWORD)
    page.locator("#id_new_password1").fill("new-horse-staple-77")
    page.locator("#id_new_password2").fill("new-horse-staple-77")
    page.get_by_role("button", name="修改密码").click()
    expect(page.locator(".banner.ok")).to_contain_text("密码已修改")
    if shots:
        page.screenshot(path=str(shots / "console-password--changed.png"), full_page=True)

    def password_works() -> Any:
        from django.contrib.auth import get_user_model
        from django_tenants.utils import schema_context

        with schema_context(shop.schema):
            return get_user_model().objects.get(email=shop.email).check_password("new-horse-staple-77")

    assert orm(password_works)
