"""The money pages of the merchant console in headless Chromium, as a merchant uses them:

* the order page's refund form: each line's refundable amount and units, the merchant
  says what the refund is for (units of a line and some shipping), a wrong quantity is
  answered on the page with what was typed kept, and the refund lists what it was for;
* the distribution settings: the commission cap, with its field error;
* the withdrawal queue: a distributor in debt after a clawback, the debt shown, and the
  merchant's decision (pay anyway needs a reason; hold);
* the reconciliation findings on the distribution overview.

Screenshots of each page (``BROWSER_SCREENSHOTS=<dir>`` keeps them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests import operators
from tests.browser.conftest import LiveSite, orm
from tests.browser.test_themes_flow import Browsers, Shop, browsers, log_in, open_shop, shop_text  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Page


def _setup(shop: Shop) -> dict[str, Any]:
    """Distribution on (10%), shipping 8.00; a distributor's buyer orders Tea ×2 (30.00)
    and Cup ×1 (15.00), paid offline; an earlier order of 100.00 completed and settled, of
    which the distributor asked to withdraw 9.00 (approved)."""
    from datetime import timedelta

    from django.utils import timezone
    from django_tenants.utils import schema_context

    from distribution import config, services, settlement, withdrawals
    from distribution.models import BindingSource
    from shop.checkout.models import ShippingTemplate
    from shop.members import services as members
    from shop.orders import services as orders
    from shop.orders.models import Order
    from shop.payments import services as payments
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=shop.slug)
    with schema_context(shop.schema):
        config.settings_update(
            tenant,
            {
                "enabled": True,
                "rate_level1_bp": 1000,
                "hold_days": 0,
                "withdrawal_minimum": 100,
                "withdrawal_methods": ["bank"],
            },
        )
        ShippingTemplate.objects.update_or_create(
            is_default=True, defaults={"name": "std", "default_fee": 800, "free_over": None, "rules": []}
        )

        def someone(phone: str) -> Any:
            made = members.member_register(phone=phone, password="correct-horse-battery-9", name=f"会员{phone[-4:]}")
            members.address_create(
                made,
                recipient="张三",
                phone=phone,
                province="浙江省",
                city="杭州市",
                district="西湖区",
                detail="文三路 1 号",
            )
            return made

        sharer = services.distributor_qualify(someone("13700000001"), reason="test")
        assert sharer is not None
        buyer = someone("13700000002")
        services.bind(buyer, sharer, source=BindingSource.LINK, evidence={}, actor="test")
        tea, cup, gift = (shop.products[name] for name in ("明前龙井", "青瓷杯", "礼盒"))
        from shop.catalogue.models import Sku

        sku = {pk: Sku.objects.get(product_id=pk).pk for pk in (tea, cup, gift)}
        Sku.objects.filter(pk=sku[tea]).update(price=3000)
        Sku.objects.filter(pk=sku[cup]).update(price=1500)
        Sku.objects.filter(pk=sku[gift]).update(price=10_000)

        def paid(items: list[tuple[int, int]]) -> Any:
            placed = orders.order_create(
                buyer,
                items=[(s, q, None) for s, q in items],
                fulfilment="delivery",
                address_id=buyer.addresses.get().pk,
            )
            payments.offline_confirm(placed, amount=placed.payable, actor="staff:1")
            return Order.objects.get(pk=placed.pk)

        earlier = paid([(sku[gift], 1)])
        orders.order_ship(earlier, carrier="顺丰", tracking_number="SF1", actor="staff:1")
        orders.order_confirm_delivery(earlier, actor="staff:1")
        orders.order_complete(earlier, actor="staff:1")
        Order.objects.filter(pk=earlier.pk).update(completed_at=timezone.now() - timedelta(days=1))
        assert settlement.settle_due() == 1
        w = withdrawals.withdrawal_request(
            sharer, {"amount": 900, "method": "bank", "account_details": {"account_number": "6222"}}
        )
        withdrawals.withdrawal_review(w, approve=True, actor="staff:1")
        order = paid([(sku[tea], 2), (sku[cup], 1)])
        return {"order": order.pk, "earlier": earlier.pk, "withdrawal": w.pk}


def _refund_earlier(shop: Shop, order_id: int) -> None:
    """The earlier order refunded in full (the after-sale of a returned gift box): the
    settled commission is clawed back, 1.00 from what was available, 9.00 owed."""
    from django_tenants.utils import schema_context

    from shop.orders.models import Order
    from shop.payments import services as payments
    from shop.payments.allocation import RefundFor
    from shop.payments.models import Payment

    with schema_context(shop.schema):
        order = Order.objects.get(pk=order_id)
        (line,) = order.lines.values_list("pk", flat=True)
        payment = Payment.objects.get(order=order)
        payments.refund_payment(
            payment, 10_000, "退货", "staff:1", reference="银行转账 88", refund_for=RefundFor(lines=((line, 1, None),))
        )


def test_merchant_refunds_sets_the_cap_and_decides_about_a_debt(
    browsers: Browsers,  # noqa: F811 - the fixture, imported
    live_site: LiveSite,
    open_shop: Callable[..., Shop],  # noqa: F811
    screenshots: Path,
) -> None:
    from django.contrib.auth import get_user_model
    from playwright.sync_api import expect

    shop = open_shop("money-console", "pro", ["明前龙井", "青瓷杯", "礼盒"])
    ids = orm(lambda: _setup(shop))
    page: Page = browsers.merchant

    def shot(name: str) -> None:
        page.screenshot(path=str(screenshots / f"money-console--{name}.png"), full_page=True)

    log_in(page, live_site, shop)

    # --- the order page's refund form ------------------------------------------------------
    page.goto(live_site.url(f"/console/orders/{ids['order']}/", shop=shop.slug))
    form = page.locator("form.refund-form").first
    rows = form.locator("tr.refund-line")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td.refundable")).to_contain_text("¥60.00")
    expect(rows.nth(1).locator("td.refundable")).to_contain_text("¥15.00")
    shot("order-refund-form")
    tea_units = rows.nth(0).locator("input[name^='qty_']")
    tea_units.fill("3")  # only 2 were bought
    form.locator("input[name='reference']").fill("银行转账 1")
    form.get_by_role("button", name=shop_text("Refund")).click()
    errors = page.locator("form.refund-form ul.errors")
    expect(errors.first).to_contain_text("最多还可退 2 件")
    expect(page.locator("form.refund-form tr.refund-line").nth(0).locator("input[name^='qty_']")).to_have_value("3")
    shot("order-refund-error")
    form = page.locator("form.refund-form").first
    form.locator("tr.refund-line").nth(0).locator("input[name^='qty_']").fill("1")
    form.locator("input[name='shipping']").fill("3.00")
    form.locator("input[name='reference']").fill("银行转账 1")
    form.get_by_role("button", name=shop_text("Refund")).click()
    expect(page.locator(".refund-parts").first).to_contain_text("明前龙井 ×1 ¥30.00 · 运费 ¥3.00")
    rows = page.locator("form.refund-form tr.refund-line")
    expect(rows.nth(0).locator("td.refundable")).to_contain_text("¥30.00")
    shot("order-refunded")

    # --- the commission cap ------------------------------------------------------------------
    page.goto(live_site.url("/console/distribution/settings/", shop=shop.slug))
    cap = page.locator("#cap")
    cap.fill("abc")
    page.get_by_role("button", name=shop_text("Save"), exact=True).click()
    expect(page.locator("#cap ~ ul.errors").first).to_be_visible()
    shot("settings-cap-error")
    page.locator("#cap").fill("30")
    page.get_by_role("button", name=shop_text("Save"), exact=True).click()
    page.goto(live_site.url("/console/distribution/settings/", shop=shop.slug))
    expect(page.locator("#cap")).to_have_value("30.00")
    shot("settings-cap")

    # --- a clawback while a withdrawal is approved: the queue shows the debt -----------------
    orm(lambda: _refund_earlier(shop, ids["earlier"]))
    page.goto(live_site.url("/console/distribution/withdrawals/?status=approved", shop=shop.slug))
    row = page.locator(f"#withdrawal-{ids['withdrawal']}")
    expect(row.locator("td.debt")).to_contain_text("¥9.00")
    expect(page.locator("#debt-banner")).to_be_visible()
    shot("withdrawals-debt")
    row.locator("input[name='reference']").fill("招行 0001")
    row.get_by_role("button", name=shop_text("Mark paid")).click()
    expect(page.locator("body")).to_contain_text("仍然打款")
    row = page.locator(f"#withdrawal-{ids['withdrawal']}")
    row.locator("input[value='pay_anyway']").check()
    row.get_by_role("button", name=shop_text("Decide")).click()
    expect(page.locator("body")).to_contain_text("请说明在有欠款的情况下仍然打款的原因")
    row = page.locator(f"#withdrawal-{ids['withdrawal']}")
    row.locator("input[value='hold']").check()
    row.locator("input[name='debt_reason']").fill("等下一笔结算还清")
    row.get_by_role("button", name=shop_text("Decide")).click()
    row = page.locator(f"#withdrawal-{ids['withdrawal']}")
    expect(row.locator(".decision")).to_contain_text("等下一笔结算还清")
    shot("withdrawals-held")

    # --- the reconciliation: nothing found, then a planted inconsistency is reported ------------
    page.goto(live_site.url("/console/distribution/", shop=shop.slug))
    page.get_by_role("button", name=shop_text("Check now")).click()
    expect(page.locator("#reconciliation")).to_contain_text("分毫不差")
    shot("reconciliation-clean")
    orm(lambda: _plant(shop, ids["order"]))
    page.get_by_role("button", name=shop_text("Check now")).click()
    expect(page.locator("#reconciliation-banner")).to_be_visible()
    expect(page.locator("#reconciliation table.findings")).to_contain_text("实付 ¥60.00 的商品已退 ¥90.00")
    shot("reconciliation-findings")

    # --- the operator console lists the shop with its findings -----------------------------------
    browser = browsers.shopper.context.browser
    assert browser is not None
    operator = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    op = operator.new_page()
    orm(_operator)
    op.goto(live_site.url("/operator/login/"))
    op.locator("#id_username").fill("op@money.test")
    op.locator("#id_password").fill("correct-horse-battery-9")
    op.locator("input[type=submit]").click()
    op.locator("#id_code").fill(operators.code())  # the second step (platform_core/operator_auth.py)
    op.locator("input[type=submit]").click()
    expect(op.locator("#two-factor-link")).to_be_visible()
    op.goto(live_site.url("/operator/platform_core/shopcheck/?found=yes"))
    expect(op.locator("#result_list")).to_contain_text("money-console")
    op.locator("#result_list tbody th a").first.click()
    expect(op.locator("body")).to_contain_text("line_over_refunded")
    op.screenshot(path=str(screenshots / "money-console--operator-findings.png"), full_page=True)
    operator.close()
    orm(lambda: get_user_model().objects.filter(email="op@money.test").delete())


def _plant(shop: Shop, order_id: int) -> None:
    """What the old code could leave behind: a refund part recorded twice for the tea."""
    from django_tenants.utils import schema_context

    from shop.payments.models import Refund, RefundLine

    with schema_context(shop.schema):
        refund = Refund.objects.filter(payment__order_id=order_id).order_by("id")[0]
        part = refund.parts.filter(kind="goods").first()
        assert part is not None
        RefundLine.objects.create(refund=refund, kind="goods", order_line_id=part.order_line_id, amount=6000)


def _operator() -> None:
    from django.contrib.auth import get_user_model

    operators.enrol(get_user_model().objects.create_superuser("op@money.test", "correct-horse-battery-9"))
