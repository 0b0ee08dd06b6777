"""A shop owner whose free trial is over subscribes from a phone: Plan & billing, Subscribe
on Pro monthly, the card typed into Stripe Elements, back on the billing page with the
subscription active and the card on file. And a card the bank refuses when it is saved.

Stripe is localstripe (``tests/billing/conftest.py``): the page loads its stand-in for
Stripe.js from ``STRIPE_JS_URL`` (``<localstripe>/js.stripe.com/v3/``), which sends the
card from the browser straight to localstripe, as the real Stripe.js sends it to Stripe.
Its card field is five plain inputs (number, exp_month, exp_year, cvc, postal_code) and
takes the number as 16 digits, without the spaces the real Elements field accepts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone, translation

from platform_core import stripe_gateway as gateway
from tests.browser.conftest import LiveSite, orm
from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

SHOP_NAME = "小鹿茶铺"
GOOD_CARD = "4242424242424242"
DECLINED_AT_SETUP = "4000000000000002"  # Stripe refuses to save it: "Your card was declined."


def shop_text(message: str) -> str:
    """``message`` as the console shows it: in the shop's language (the platform default)."""
    from django.conf import settings

    with translation.override(settings.LANGUAGE_CODE):
        return str(translation.gettext(message))


def status_label(status: str) -> str:
    from django.conf import settings

    from billing.models import BillingAccount

    with translation.override(settings.LANGUAGE_CODE):
        return str(BillingAccount.Status(status).label)


@pytest.fixture
def open_shop(live_db: list[str], stripe_on: None) -> Iterator[Callable[[str], str]]:
    """``open_shop(slug)`` signs up a standard shop (Stripe billing configured) and returns
    its owner's email. Removed after the test by ``live_db``, with the audit entries its
    tier change left (they would outlive the shop)."""
    from tenants.services import shop_signup

    def open_(slug: str) -> str:
        email = f"owner@{slug}.test"
        live_db.append(slug)
        orm(lambda: shop_signup(name=SHOP_NAME, slug=slug, email=email, password=PASSWORD, tier="standard"))
        return email

    yield open_

    def forget() -> None:
        from platform_core.models import OperatorAuditEntry

        OperatorAuditEntry.objects.filter(tenant__slug__in=live_db).delete()

    orm(forget)


def end_trial(slug: str) -> None:
    """The shop's free trial ended yesterday: subscribing charges at once."""

    def run() -> None:
        from billing import services
        from billing.models import BillingAccount
        from tenants.models import Tenant

        account = services.account_for(Tenant.objects.get(slug=slug))
        assert account.provider == BillingAccount.Provider.STRIPE
        BillingAccount.objects.filter(pk=account.pk).update(trial_ends_at=timezone.now() - timedelta(days=1))

    orm(run)


def billing_state(slug: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        from billing.models import BillingAccount

        account = BillingAccount.objects.select_related("tenant").get(tenant__slug=slug)
        return {
            "tier": account.tenant.tier,
            "status": account.status,
            "plan": account.plan_key,
            "card": (account.card_brand, account.card_last4),
            "customer": account.stripe_customer_id,
            "subscription": account.stripe_subscription_id,
        }

    return orm(read)


def stripe_subscriptions(customer: str) -> list[dict[str, Any]]:
    """The customer's subscriptions as localstripe holds them."""
    listed = gateway.v1().subscriptions.list(params={"customer": customer})
    return [s.to_dict() for s in listed.data]


def log_in_and_open_the_card_form(page: Page, site: LiveSite, slug: str, email: str) -> None:
    """Log in to the console, end the trial, Plan & billing, Subscribe on Pro monthly."""
    from playwright.sync_api import expect

    page.goto(site.url("/console/login/", shop=slug))
    page.get_by_label(shop_text("Email")).fill(email)
    page.get_by_label(shop_text("Password")).fill(PASSWORD)
    page.get_by_role("button", name=shop_text("Log in"), exact=True).tap()
    page.wait_for_url(site.url("/console/", shop=slug))
    end_trial(slug)

    page.locator("header.top nav").get_by_role("link", name=shop_text("Plan & billing")).tap()
    page.wait_for_url(site.url("/console/billing/", shop=slug))
    expect(page.locator("#billing-status")).to_have_text(status_label("trial"))
    pro_monthly = page.get_by_role("row").filter(
        has=page.get_by_role("cell", name=f"{shop_text('Pro')} · {shop_text('monthly')}", exact=True)
    )
    subscribe = pro_monthly.get_by_role("link", name=shop_text("Subscribe"), exact=True)
    expect(subscribe).to_have_attribute("href", "/console/billing/card/?plan=pro_monthly")
    subscribe.tap()
    page.wait_for_url(site.url("/console/billing/card/?plan=pro_monthly", shop=slug))
    expect(page.locator("h1")).to_have_text(f"{shop_text('Subscribe')} · {shop_text('Pro')} · {shop_text('monthly')}")


def type_card(page: Page, number: str) -> None:
    """Type into the (fake) Elements card field, key by key like a person."""
    card = page.locator("#card-element")
    for field, value in (("number", number), ("exp_month", "12"), ("exp_year", "34"), ("cvc", "123")):
        card.get_by_placeholder(field, exact=True).press_sequentially(value)
    card.get_by_placeholder("postal_code", exact=True).press_sequentially("10001")


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_owner_subscribes_to_pro_with_a_card_on_a_phone(
    phone: Page, live_site: LiveSite, open_shop: Callable[[str], str], shot: Callable[..., Path]
) -> None:
    from playwright.sync_api import expect

    slug = "deer-pays"
    page = phone
    log_in_and_open_the_card_form(page, live_site, slug, open_shop(slug))
    card = page.locator("#card-element")
    expect(card.get_by_placeholder("number", exact=True)).to_be_visible()  # Stripe.js mounted its field
    type_card(page, GOOD_CARD)
    shot("1-card-form-filled")
    assert fits_the_screen(page)

    page.get_by_role("button", name=shop_text("Subscribe"), exact=True).tap()
    page.wait_for_url(live_site.url("/console/billing/", shop=slug))
    expect(page.get_by_role("status")).to_have_text(shop_text("Subscribed. Thank you!"))
    expect(page.locator("#billing-status")).to_have_text(status_label("active"))
    card_row = page.locator("tr").filter(has=page.locator("th").get_by_text(shop_text("Card"), exact=True))
    expect(card_row.locator("td")).to_have_text("Visa •••• 4242")
    expect(page.locator("#current-plan")).to_have_text(f"{shop_text('Pro')} · {shop_text('monthly')}")
    shot("2-billing-active")
    assert fits_the_screen(page)

    state = billing_state(slug)
    assert {k: state[k] for k in ("tier", "status", "plan", "card")} == {
        "tier": "pro",
        "status": "active",
        "plan": "pro_monthly",
        "card": ("visa", "4242"),
    }
    subscriptions = stripe_subscriptions(state["customer"])
    assert [(s["id"], s["status"]) for s in subscriptions] == [(state["subscription"], "active")]


def test_a_card_declined_at_setup_shows_the_error_and_subscribes_nothing(
    phone: Page, live_site: LiveSite, open_shop: Callable[[str], str], shot: Callable[..., Path]
) -> None:
    from playwright.sync_api import expect

    slug = "deer-declined"
    page = phone
    log_in_and_open_the_card_form(page, live_site, slug, open_shop(slug))
    type_card(page, DECLINED_AT_SETUP)
    submit = page.get_by_role("button", name=shop_text("Subscribe"), exact=True)
    submit.tap()

    expect(page.locator("#card-errors")).to_have_text("Your card was declined.")
    expect(submit).to_be_enabled()  # the owner can try another card
    expect(page.locator("#payment-method")).to_have_value("")  # nothing was posted to us
    assert page.url == live_site.url("/console/billing/card/?plan=pro_monthly", shop=slug)
    shot("card-declined")
    assert fits_the_screen(page)

    state = billing_state(slug)
    assert (state["tier"], state["status"], state["plan"], state["card"], state["subscription"]) == (
        "standard",
        "trial",
        "standard_monthly",
        ("", ""),
        "",
    )
    assert state["customer"]  # made for the card form's SetupIntent
    assert stripe_subscriptions(state["customer"]) == []
