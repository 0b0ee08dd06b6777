"""Coupons in the storefront, through plain forms (no JavaScript): the claim centre, claiming
from the centre, a product page, the cart and the home page's decorated coupon block (its
body cached for every visitor, the form still carrying the visitor's own CSRF token), my
coupons by state, and the checkout's coupon choice best first with why the others do not
apply. Bad input and another shop's coupons are refused and change nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORD, in_shop, owner_client, shop_client
from tests.decoration.helpers import draft_url, put
from tests.marketing.helpers import coupon_template, give_coupon
from tests.orders.conftest import member, product

pytestmark = pytest.mark.django_db(transaction=False)


def logged_in(tenant: Any, phone: str = "13800138000", **extra: Any) -> tuple[Client, Any]:
    buyer = member(tenant, phone)
    client = shop_client(tenant, **extra)
    response = client.post("/account/login/", {"login": phone, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    client.cookies["django_language"] = "en"
    return client, buyer


def held(tenant: Any, buyer: Any) -> list[str]:
    from shop.marketing.models import MemberCoupon

    with in_shop(tenant):
        return sorted(MemberCoupon.objects.filter(member=buyer).values_list("template__name", flat=True))


def test_the_claim_centre_lists_offers_and_a_claim_goes_back_with_a_message(alpha: Any) -> None:
    template = coupon_template(alpha, name="Spring 20 off", total_quantity=5, per_member_limit=1)
    coupon_template(alpha, name="Hidden", claimable=False)
    guest = shop_client(alpha)
    guest.cookies["django_language"] = "en"
    page = guest.get("/coupons/").content.decode()
    assert "Spring 20 off" in page and "Hidden" not in page
    assert "Orders from ¥100.00" in page and "5 left" in page and "Valid 7 days after claiming" in page
    assert f'action="/coupons/{template.pk}/claim/"' in page
    # a guest logs in first, then comes back to the centre
    login = guest.post(f"/coupons/{template.pk}/claim/", {"next": "/"})
    assert login.status_code == 302 and login["Location"].startswith("/account/login/")

    client, buyer = logged_in(alpha)
    claimed = client.post(f"/coupons/{template.pk}/claim/", {"next": "/cart/"})
    assert claimed.status_code == 302 and claimed["Location"] == "/cart/"
    assert "Coupon claimed: Spring 20 off" in client.get("/cart/").content.decode()
    assert held(alpha, buyer) == ["Spring 20 off"]
    again = client.get("/coupons/").content.decode()
    assert "Claimed" in again and "4 left" in again
    assert f'action="/coupons/{template.pk}/claim/"' not in again  # the limit is reached: no button
    # a second tap (the back button) is answered on the page and claims nothing
    twice = client.post(f"/coupons/{template.pk}/claim/", {"next": "/"})
    assert twice.status_code == 400 and "as many of this coupon as allowed" in twice.content.decode()
    assert held(alpha, buyer) == ["Spring 20 off"]
    # an offsite ``next`` is not followed
    other = coupon_template(alpha, name="Other", per_member_limit=2)
    offsite = client.post(f"/coupons/{other.pk}/claim/", {"next": "https://evil.example/"})
    assert offsite["Location"] == "/coupons/"


def test_bad_claims_are_refused_and_change_nothing(alpha: Any, beta: Any) -> None:
    from shop.marketing.models import CouponTemplate

    gone = coupon_template(alpha, name="Gone", total_quantity=1)
    with in_shop(alpha):
        CouponTemplate.objects.filter(pk=gone.pk).update(issued=1)
    ended = coupon_template(alpha, name="Ended")
    with in_shop(alpha):
        CouponTemplate.objects.filter(pk=ended.pk).update(ended_at=timezone.now())
    secret = coupon_template(alpha, name="Not claimable", claimable=False)
    client, buyer = logged_in(alpha)
    assert client.post(f"/coupons/{gone.pk}/claim/").status_code == 400
    assert "All of these coupons are gone" in client.post(f"/coupons/{gone.pk}/claim/").content.decode()
    assert "no longer offered" in client.post(f"/coupons/{ended.pk}/claim/").content.decode()
    assert client.post(f"/coupons/{secret.pk}/claim/").status_code == 404
    assert client.post("/coupons/999999/claim/").status_code == 404
    assert client.get(f"/coupons/{gone.pk}/claim/").status_code == 302  # a GET only shows the centre
    assert held(alpha, buyer) == []
    # another shop: alpha's coupon is not on beta's pages, and claiming its id there gets nothing of alpha's
    mine = coupon_template(alpha, name="Alpha only", per_member_limit=3)
    beta_client, _beta_buyer = logged_in(beta, "13900139000")
    assert "Alpha only" not in beta_client.get("/coupons/").content.decode()
    beta_client.post(f"/coupons/{mine.pk}/claim/")
    with in_shop(alpha):
        assert CouponTemplate.objects.get(pk=mine.pk).issued == 0


def test_product_page_and_cart_offer_the_coupons_that_cover_them(alpha: Any) -> None:
    tea = product(alpha, name="Tea", price=12000)
    cup = product(alpha, name="Cup", price=3000)
    coupon_template(alpha, name="Tea only", scope="products", product_ids=[tea.product_id])
    coupon_template(alpha, name="Everything", amount=500, min_spend=0)
    client, buyer = logged_in(alpha)
    tea_page = client.get(f"/products/{tea.product_id}/").content.decode()
    assert "Tea only" in tea_page and "Everything" in tea_page and "Selected products" in tea_page
    cup_page = client.get(f"/products/{cup.product_id}/").content.decode()
    assert "Tea only" not in cup_page and "Everything" in cup_page
    form = re.search(r'<form method="post" action="(/coupons/\d+/claim/)">.*?name="next" value="([^"]+)"', tea_page)
    assert form is not None and form.group(2) == f"/products/{tea.product_id}/"
    client.post("/cart/add/", {"product": cup.product_id, "sku": cup.pk, "quantity": 1})
    cart = client.get("/cart/").content.decode()
    assert "Coupons for your cart" in cart and "Everything" in cart and "Tea only" not in cart


def test_the_decorated_coupon_block_shows_real_coupons_with_a_working_claim_button(alpha: Any) -> None:
    product(alpha, name="Tea")
    first = coupon_template(alpha, name="Block A")
    second = coupon_template(alpha, name="Block B", kind="percent", amount=0, percent_off=15, max_discount=3000)
    ended = coupon_template(alpha, name="Block ended")
    owner = owner_client(alpha)
    blocks = [
        {"type": "coupons", "config": {"title": "Grab a coupon", "template_ids": [second.pk, first.pk, ended.pk]}}
    ]
    saved = put(owner, draft_url("home"), {"blocks": blocks})
    assert saved.status_code == 200, saved.content[:500]
    assert owner.post("/api/v1/console/pages/home/publish/").status_code == 200
    from shop.marketing.models import CouponTemplate

    with in_shop(alpha):
        CouponTemplate.objects.filter(pk=ended.pk).update(ended_at=timezone.now())

    buyer = member(alpha, "13700137000")
    client = Client(HTTP_HOST=f"{alpha.slug}.localhost", enforce_csrf_checks=True)
    client.cookies["django_language"] = "en"
    assert shop_client(alpha).get("/").status_code == 200  # someone else fills the body cache first
    login_page = client.get("/account/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
    assert token is not None
    client.post(
        "/account/login/", {"login": "13700137000", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
    )
    home = client.get("/").content.decode()
    assert home.index("Block B") < home.index("Block A") and "Block ended" not in home
    assert "15% off" in home and "at most ¥30.00" in home
    form = re.search(
        rf'action="/coupons/{first.pk}/claim/"><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">', home
    )
    assert form is not None and "csrfslot" not in form.group(1)
    claimed = client.post(f"/coupons/{first.pk}/claim/", {"csrfmiddlewaretoken": form.group(1), "next": "/"})
    assert claimed.status_code == 302 and claimed["Location"] == "/"
    assert "Coupon claimed: Block A" in client.get("/").content.decode()
    assert held(alpha, buyer) == ["Block A"]


def test_my_coupons_by_state_with_counts(alpha: Any) -> None:
    from shop.marketing.models import MemberCoupon

    client, buyer = logged_in(alpha)
    unused = give_coupon(alpha, coupon_template(alpha, name="Fresh"), buyer)
    used = give_coupon(alpha, coupon_template(alpha, name="Spent"), buyer)
    old = give_coupon(alpha, coupon_template(alpha, name="Old"), buyer)
    with in_shop(alpha):
        MemberCoupon.objects.filter(pk=used).update(status="used", used_at=timezone.now())
        MemberCoupon.objects.filter(pk=old).update(valid_until=timezone.now() - timedelta(days=1))
    page = client.get("/account/coupons/").content.decode()
    assert "Fresh" in page and "Spent" not in page and "Old" not in page
    assert "Unused (1)" in page and "Used (1)" in page and "Expired (1)" in page
    assert "Spent" in client.get("/account/coupons/?state=used").content.decode()
    expired = client.get("/account/coupons/?state=expired").content.decode()
    assert "Old" in expired and "Fresh" not in expired
    bad = client.get("/account/coupons/?state=stolen")
    assert bad.status_code == 400 and "One of: unused, used, expired" in bad.content.decode()
    assert shop_client(alpha).get("/account/coupons/").status_code == 302  # guests log in first
    assert "My coupons" in client.get("/account/").content.decode()
    assert unused


def test_checkout_lists_the_best_coupon_first_and_why_the_others_do_not_apply(alpha: Any) -> None:
    sku = product(alpha, name="Tea", price=12000)
    other = product(alpha, name="Cup", price=1000)
    client, buyer = logged_in(alpha)
    small = give_coupon(alpha, coupon_template(alpha, name="Small", amount=500, min_spend=0), buyer)
    big = give_coupon(alpha, coupon_template(alpha, name="Big", amount=2000, min_spend=10000), buyer)
    huge = give_coupon(alpha, coupon_template(alpha, name="Huge", amount=5000, min_spend=50000), buyer)
    cups = give_coupon(
        alpha, coupon_template(alpha, name="Cups", min_spend=0, scope="products", product_ids=[other.product_id]), buyer
    )
    later = coupon_template(
        alpha,
        name="Later",
        valid_days=None,
        valid_from=(timezone.now() + timedelta(days=2)).isoformat(),
        valid_until=(timezone.now() + timedelta(days=9)).isoformat(),
    )
    give_coupon(alpha, later, buyer)
    client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1})
    html = client.get("/checkout/").content.decode()
    order = [html.index(name) for name in ("Big", "Small", "Huge")]
    assert order == sorted(order)
    assert re.search(rf'value="{big}"[^>]*>.*?Best.*?saves ¥20.00', html, re.S)
    assert re.search(rf'value="{huge}" disabled>.*?Needs ¥500.00 of eligible goods', html, re.S)
    assert re.search(rf'value="{cups}" disabled>.*?does not cover anything in your order', html, re.S)
    assert "Valid from" in html
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    address = re.search(r'name="address" value="(\d+)"', html)
    assert key and address
    # a coupon chosen and "place order" tapped straight away: the new total is shown first
    data = {
        "fulfilment": "delivery",
        "address": address.group(1),
        "idempotency_key": key.group(1),
        "expected_payable": re.search(r'name="expected_payable" value="(\d+)"', html).group(1),  # type: ignore[union-attr]
        "quoted_coupon": "",
        "coupon": str(small),
    }
    shown = client.post("/checkout/", data)
    assert shown.status_code == 200 and "went up" not in shown.content.decode()
    body = shown.content.decode()
    assert f'name="quoted_coupon" value="{small}"' in body
    data["expected_payable"] = re.search(r'name="expected_payable" value="(\d+)"', body).group(1)  # type: ignore[union-attr]
    data["quoted_coupon"] = str(small)
    placed = client.post("/checkout/", data)
    assert placed.status_code == 302, placed.content.decode()[:2000]
