"""The distributor centre in the storefront, through HTTP with the shopper's session: apply
(bad and good input), earnings and the explanation of each commission line after a paid
order, team and orders brought in, the share link, a withdrawal with bad and good input,
and another shop's member seeing nothing of it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD, english, in_shop, shop_client
from tests.distribution.conftest import (
    balances,
    bound_buyer,
    complete,
    configure,
    distributor,
    pay,
    phone,
    sound,
)
from tests.orders.conftest import member

pytestmark = pytest.mark.django_db
CENTRE = "/account/distributor/"


def session(tenant: Any, someone: Any) -> Client:
    """The storefront's own login (the form), in English."""
    client = english(shop_client(tenant))
    response = client.post("/account/login/", {"login": someone.phone, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def test_apply_with_the_shops_form_and_agreement(alpha: Any) -> None:
    configure(
        alpha,
        qualification="apply_review",
        application_fields=[{"name": "wechat", "label": "WeChat id", "required": True}],
        agreement_text="No spam, ever.",
        distributor_word="Ambassador",
    )
    someone = member(alpha, phone())
    client = session(alpha, someone)
    page = client.get(CENTRE).content.decode()
    assert "Ambassador centre" in page and "Apply to become a Ambassador" in page
    assert 'name="answer_wechat"' in page and "No spam, ever." in page
    assert 'action="/account/distributor/apply/"' in page

    bad = client.post(CENTRE + "apply/", {"answer_wechat": "  "})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "This field is required." in html and "Accept the agreement to apply." in html
    from distribution.models import Distributor

    with in_shop(alpha):
        assert not Distributor.objects.filter(member=someone).exists()

    good = client.post(CENTRE + "apply/", {"answer_wechat": "wx-li", "agreement": "1"})
    assert good.status_code == 302 and good["Location"] == CENTRE
    with in_shop(alpha):
        made = Distributor.objects.get(member=someone)
    assert (made.status, made.application) == ("pending", {"wechat": "wx-li"})
    page = client.get(CENTRE).content.decode()
    assert "Awaiting review" in page and "Your application is being reviewed." in page
    assert 'action="/account/distributor/apply/"' not in page
    again = client.post(CENTRE + "apply/", {"answer_wechat": "wx-li", "agreement": "1"})
    assert again.status_code == 400 and "already a distributor" in again.content.decode()


def test_shops_that_take_no_applications_say_how_to_join(alpha: Any) -> None:
    configure(alpha, qualification="after_first_paid_order")
    client = session(alpha, member(alpha, phone()))
    page = client.get(CENTRE).content.decode()
    assert "automatically after your first paid order" in page
    assert 'action="/account/distributor/apply/"' not in page
    refused = client.post(CENTRE + "apply/", {})
    assert refused.status_code == 400 and "does not take applications" in refused.content.decode()


def test_invitation_only_takes_an_active_distributors_code(alpha: Any) -> None:
    configure(alpha, qualification="invitation_only")
    inviter = distributor(alpha)
    someone = member(alpha, phone())
    client = session(alpha, someone)
    assert 'name="invite_code"' in client.get(CENTRE).content.decode()
    bad = client.post(CENTRE + "apply/", {"invite_code": "NOPE1234"})
    assert bad.status_code == 400 and "Enter the invite code of an active distributor." in bad.content.decode()
    assert 'value="NOPE1234"' in bad.content.decode()
    good = client.post(CENTRE + "apply/", {"invite_code": inviter.code.lower()})
    assert good.status_code == 302
    html = client.get(CENTRE).content.decode()
    assert "Active" in html and "My referrer" in html and inviter.member.display_name in html
    from distribution.models import Distributor

    with in_shop(alpha):
        assert Distributor.objects.get(member=someone).parent_id == inviter.pk


def test_closed_programme(alpha: Any) -> None:
    client = session(alpha, member(alpha, phone()))
    assert "has not opened its distributor programme" in client.get(CENTRE).content.decode()


def test_earnings_lines_team_orders_share_and_referrer_after_a_paid_order(alpha: Any, deliver_events: Any) -> None:
    configure(alpha, levels=1, rate_level1_bp=1000, commission_word="Reward")
    sharer = distributor(alpha)
    recruit = distributor(alpha, sharer)
    buyer = bound_buyer(alpha, sharer)
    order = pay(alpha, buyer, [(10000, 1)], deliver_events)
    pay(alpha, bound_buyer(alpha, recruit), [(5000, 1)], deliver_events)
    assert balances(alpha, sharer)["pending"] == 1000

    client = session(alpha, sharer.member)
    response = client.get(CENTRE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "¥10.00" in html  # pending
    assert "Level 1 · 10% of ¥100.00 paid · Shop default rate" in html  # why ¥10.00
    assert order.number in html and "Item 0" in html
    assert "My Reward" in html
    assert "Level 1" in html and "1 members" in html and "¥50.00" in html  # the recruit's sales
    assert f"?ref={sharer.code}" in html and "/api/v1/distribution/materials/qr.png" in html
    assert "Top sellers this month" in html and "You are number 1" in html
    qr = client.get("/api/v1/distribution/materials/qr.png")  # the page's QR image, by the session
    assert qr.status_code == 200 and qr["Content-Type"] == "image/png"
    # the same centre as JSON, for mini-program clients
    from tests.orders.conftest import member_client

    app = member_client(alpha, sharer.member)
    app.cookies["django_language"] = "en"  # (shops speak zh-hans unless the visitor chose)
    data = app.get("/api/v1/distribution/centre/").json()
    assert data["earnings"]["pending"] == 1000 and data["words"]["commission"] == "Reward"
    assert data["team"] == [{"level": 1, "size": 1, "sales": 5000}] and data["own_sales"] == 10000
    assert data["lines"][0]["explanation"].startswith("Level 1 · 10% of ¥100.00 paid")
    # the buyer sees who referred them
    mine = session(alpha, buyer).get(CENTRE).content.decode()
    assert "My referrer" in mine and sharer.member.display_name in mine and "¥10.00" not in mine


def test_withdrawal_with_bad_and_good_input(alpha: Any, deliver_events: Any) -> None:
    from distribution import settlement

    configure(
        alpha,
        rate_level1_bp=1000,
        hold_days=0,
        withdrawal_minimum=500,
        withdrawal_fee_bp=100,
        withdrawal_methods=["shop_balance", "bank"],
    )
    sharer = distributor(alpha)
    order = pay(alpha, bound_buyer(alpha, sharer), [(10000, 1)], deliver_events)
    complete(alpha, order)
    with in_shop(alpha):
        assert settlement.settle_due() == 1
    client = session(alpha, sharer.member)
    page = client.get(CENTRE).content.decode()
    assert 'action="/account/distributor/withdraw/"' in page and "Minimum ¥5.00" in page and "fee 1%" in page

    cases = [
        ({"amount": "abc", "method": "shop_balance"}, "Enter an amount in yuan"),
        ({"amount": "2", "method": "shop_balance"}, "The minimum is ¥5.00"),
        ({"amount": "20", "method": "shop_balance"}, "amount"),  # more than available
        ({"amount": "8", "method": "cash"}, "Choose one of: shop_balance, bank"),
        ({"amount": "8", "method": "bank"}, "Give the bank account number."),
    ]
    for body, message in cases:
        bad = client.post(CENTRE + "withdraw/", body)
        assert bad.status_code == 400, body
        html = bad.content.decode()
        assert message in html, (body, html[html.find('class="errors"') :][:400])
        assert f'value="{body["amount"]}"' in html  # what was typed stays in the form
    assert balances(alpha, sharer)["available"] == 1000

    good = client.post(
        CENTRE + "withdraw/", {"amount": "8.50", "method": "bank", "account_number": "6222 0001", "account_name": "李"}
    )
    assert good.status_code == 302 and good["Location"] == CENTRE + "#withdraw"
    assert balances(alpha, sharer)["available"] == 150 and balances(alpha, sharer)["withdrawing"] == 850
    from distribution.models import Withdrawal

    with in_shop(alpha):
        made = Withdrawal.objects.get(distributor=sharer)
    assert (made.amount, made.fee, made.account_details["account_number"]) == (850, 8, "6222 0001")
    html = client.get(CENTRE).content.decode()
    assert "¥8.50" in html and "Bank transfer" in html and "Requested" in html
    assert "Your withdrawal request is being handled" in html
    assert 'action="/account/distributor/withdraw/"' not in html
    second = client.post(CENTRE + "withdraw/", {"amount": "1.50", "method": "shop_balance"})
    assert second.status_code == 400
    sound(alpha)


def test_another_shops_member_sees_nothing(alpha: Any, beta: Any, deliver_events: Any) -> None:
    configure(alpha, rate_level1_bp=1000)
    configure(beta)
    sharer = distributor(alpha)
    pay(alpha, bound_buyer(alpha, sharer), [(10000, 1)], deliver_events)
    # alpha's session cookie means nothing on beta's host
    alpha_session = session(alpha, sharer.member)
    stolen = english(shop_client(beta))
    stolen.cookies = alpha_session.cookies
    response = stolen.get(CENTRE)
    assert response.status_code == 302 and "/account/login/" in response["Location"]
    # beta's own member with the same phone sees beta's (empty) centre
    with in_shop(beta):
        from shop.members import services

        twin = services.member_register(phone=sharer.member.phone, password=PASSWORD, name="Twin")
    html = session(beta, twin).get(CENTRE).content.decode()
    assert sharer.code not in html and "¥10.00" not in html and "Earnings pending" not in html
    assert beta_post_withdraw_refused(beta, twin)


def beta_post_withdraw_refused(tenant: Any, someone: Any) -> bool:
    response = session(tenant, someone).post(CENTRE + "withdraw/", {"amount": "1", "method": "shop_balance"})
    return response.status_code == 400 and "You are not a distributor." in response.content.decode()
