"""The shop balance (店铺余额): a ledger of immutable entries with a cached balance per
member; paying an order from it (guarded, all or nothing) and refunds back to it through
the normal refund path; a distributor's withdrawal paid to it, once; the storefront, the
API and the member centre; shops never see each other's balances."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from shop.orders.models import Order
from shop.payments import services as payments
from shop.payments.models import Payment, Refund
from shop.wallet import services as wallet
from shop.wallet.models import WalletBalance, WalletEntry
from tests.conftest import english, in_shop, owner_client, shop_client
from tests.orders.conftest import member_client
from tests.payments.conftest import buyer_of, post, unpaid_order

pytestmark = pytest.mark.django_db
K = WalletEntry.Kind


def topped_up(tenant: Any, someone: Any, amount: int, reference: str = "top-up-1") -> None:
    with in_shop(tenant):
        wallet.credit(someone, amount, kind=K.ADJUST, reference=reference)


def test_a_credit_is_recorded_once_per_reference(alpha: Any) -> None:
    someone, _client = buyer_of(alpha)
    with in_shop(alpha):
        assert wallet.balance(someone) == 0 and wallet.verify() == []
        first = wallet.credit(someone, 5_000, kind=K.CREDIT_WITHDRAWAL, reference="withdrawal-7")
        again = wallet.credit(someone, 5_000, kind=K.CREDIT_WITHDRAWAL, reference="withdrawal-7")
        assert again.pk == first.pk and wallet.balance(someone) == 5_000
        # the same reference of another kind is another entry
        wallet.credit(someone, 300, kind=K.ADJUST, reference="withdrawal-7")
        assert wallet.balance(someone) == 5_300 and WalletEntry.objects.filter(member=someone).count() == 2
        with pytest.raises(wallet.ReferenceReused):  # a reference names one entry, never another amount
            wallet.credit(someone, 9_999, kind=K.CREDIT_WITHDRAWAL, reference="withdrawal-7")
        for bad in (0, -1, 1.5, True, "100"):
            with pytest.raises(ValueError):
                wallet.credit(someone, bad, kind=K.ADJUST, reference="bad")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            wallet.credit(someone, 100, kind=K.SPEND_ORDER, reference="not-a-credit")
        with pytest.raises(wallet.InsufficientBalance):
            wallet.debit(someone, 5_301, kind=K.ADJUST, reference="too-much")
        assert wallet.balance(someone) == 5_300 and wallet.verify() == []
        entry = WalletEntry.objects.get(pk=first.pk)
        entry.amount = 1
        with pytest.raises(ValueError):  # entries are immutable
            entry.save()
        WalletBalance.objects.filter(member=someone).update(balance=1)
        assert wallet.verify() == [(someone.pk, 1, 5_300)]  # a cache that drifted is found


def test_pay_from_the_balance_then_refunds_go_back_to_it(alpha: Any, django_capture_on_commit_callbacks: Any) -> None:
    from shop import events

    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=9_900)
    topped_up(alpha, buyer, 10_000)
    paid_events: list[Any] = []

    def on_paid(sender: Any, order: Any, **kwargs: Any) -> None:
        paid_events.append(order.pk)

    events.order_paid.connect(on_paid, weak=False, dispatch_uid="wallet-test")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "balance"})
    finally:
        events.order_paid.disconnect(dispatch_uid="wallet-test")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["provider"], body["status"], body["amount"], body["balance"]) == ("balance", "succeeded", 9_900, 100)
    assert paid_events == [order.pk]
    with in_shop(alpha):
        order.refresh_from_db()
        assert order.status == Order.Status.PAID and order.amount_paid == 9_900
        payment = Payment.objects.get(order=order)
        assert (payment.provider, payment.status, payment.amount) == ("balance", "succeeded", 9_900)
        assert wallet.balance(buyer) == 100
        spent = WalletEntry.objects.get(kind=K.SPEND_ORDER)
        assert (spent.member_id, spent.amount, spent.reference) == (buyer.pk, -9_900, f"order-{order.pk}")
    # paying again is refused, and takes nothing more
    again = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "balance"})
    assert again.status_code == 400 and "status" in again.json()
    # a partial refund through the refund primitive: back on the balance at once, once per key
    with in_shop(alpha):
        refund = payments.refund_payment(payment, 2_000, "damaged box", "staff:1", idempotency_key="refund-key-1")
        retried = payments.refund_payment(payment, 2_000, "damaged box", "staff:1", idempotency_key="refund-key-1")
        assert retried.pk == refund.pk and refund.status == Refund.Status.SUCCEEDED
        assert wallet.balance(buyer) == 2_100
        assert payments.send_refund(refund.pk) == "nothing to send (succeeded)"  # a retried task: no second credit
        assert WalletEntry.objects.get(kind=K.REFUND_ORDER).reference == f"refund-{refund.pk}"
        with pytest.raises(ValidationError) as too_much:
            payments.refund_payment(payment, 8_000, "", "staff:1")
        assert "amount" in too_much.value.message_dict
        assert wallet.balance(buyer) == 2_100 and wallet.verify() == []


def test_an_after_sale_refund_of_a_balance_payment_goes_back_to_the_balance(alpha: Any) -> None:
    from shop.aftersales import services as aftersales
    from shop.aftersales.models import AfterSale
    from tests.aftersales.conftest import ask

    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=9_900)
    topped_up(alpha, buyer, 9_900)
    assert post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "balance"}).status_code == 200
    with in_shop(alpha):
        line = order.lines.get().pk
    asked = ask(client, alpha, order, [(line, 1)])
    assert asked.status_code == 201, asked.content
    with in_shop(alpha):
        aftersale = AfterSale.objects.get(pk=asked.json()["id"])
        aftersales.aftersale_approve(aftersale, actor="staff:1")
        done = aftersales.aftersale_refund(aftersale, actor="staff:1")
        assert done.status == AfterSale.Status.REFUNDED
        assert [r.status for r in done.refunds.all()] == [Refund.Status.SUCCEEDED]
        assert wallet.balance(buyer) == 9_900 and wallet.verify() == []
        assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED  # closed: all refunded


def test_a_balance_that_does_not_cover_the_order_is_refused_and_nothing_is_written(alpha: Any) -> None:
    buyer, client = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=9_900)
    english(client)
    never_topped = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "balance"})
    assert never_topped.status_code == 400 and "provider" in never_topped.json()
    topped_up(alpha, buyer, 9_899)
    short = post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "balance"})
    assert short.status_code == 400
    assert short.json() == {"provider": ["Your shop balance (¥98.99) does not cover ¥99.00."]}
    with in_shop(alpha):
        assert Order.objects.get(pk=order.pk).status == Order.Status.UNPAID
        assert not Payment.objects.filter(order=order).exists()
        assert list(WalletEntry.objects.values_list("kind", "amount")) == [(K.ADJUST, 9_899)]
        assert wallet.balance(buyer) == 9_899 and wallet.verify() == []


def test_paying_a_shop_balance_withdrawal_credits_the_wallet_once(alpha: Any, deliver_events: Any) -> None:
    from distribution import withdrawals
    from tests.distribution.conftest import configure, sound
    from tests.distribution.test_withdrawals import _earned

    configure(
        alpha,
        rate_level1_bp=1000,
        hold_days=0,
        withdrawal_minimum=100,
        withdrawal_fee_bp=100,
        withdrawal_methods=["shop_balance", "bank"],
    )
    sharer = _earned(alpha, deliver_events)
    with in_shop(alpha):
        made = withdrawals.withdrawal_request(sharer, {"amount": 800, "method": "shop_balance"})
        made = withdrawals.withdrawal_review(made, approve=True, actor="staff:1")
        paid = withdrawals.withdrawal_paid(made, reference="shop balance", actor="staff:1")
        withdrawals.withdrawal_paid(made, reference="shop balance", actor="staff:1")  # a retried callback
        assert paid.net == 792
        assert wallet.balance(sharer.member) == 792
        entry = WalletEntry.objects.get(member=sharer.member)
        assert (entry.kind, entry.amount, entry.reference) == (K.CREDIT_WITHDRAWAL, 792, f"withdrawal-{made.pk}")
        # a retry past the guard (the credit alone, as a re-delivered hook would) adds nothing either
        wallet.credit_withdrawal(sharer.member, 792, withdrawal_id=made.pk)
        assert wallet.balance(sharer.member) == 792 and wallet.verify() == []
        # a bank withdrawal is paid elsewhere: no credit here
        bank = withdrawals.withdrawal_request(
            sharer, {"amount": 200, "method": "bank", "account_details": {"account_number": "6222"}}
        )
        bank = withdrawals.withdrawal_review(bank, approve=True, actor="staff:1")
        withdrawals.withdrawal_paid(bank, reference="B1", actor="staff:1")
        assert wallet.balance(sharer.member) == 792 and WalletEntry.objects.count() == 1
    sound(alpha)
    # and the distributor can spend it at checkout
    client = member_client(alpha, sharer.member)
    order = unpaid_order(alpha, sharer.member, price=700)
    assert post(client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "balance"}).status_code == 200
    with in_shop(alpha):
        assert wallet.balance(sharer.member) == 92 and wallet.verify() == []


def test_the_pay_page_offers_the_balance_when_it_covers_the_order(alpha: Any) -> None:
    from tests.conftest import PASSWORD

    buyer, _api = buyer_of(alpha)
    order = unpaid_order(alpha, buyer, price=9_900)
    client = english(shop_client(alpha))
    assert client.post("/account/login/", {"login": buyer.phone, "password": PASSWORD}).status_code == 302
    url = f"/account/orders/{order.pk}/pay/"
    assert 'value="balance"' not in client.get(url).content.decode()  # nothing on the balance
    topped_up(alpha, buyer, 5_000)
    assert 'value="balance"' not in client.get(url).content.decode()  # not enough
    topped_up(alpha, buyer, 5_000, reference="top-up-2")
    html = client.get(url).content.decode()
    assert 'value="balance"' in html and "Shop balance (¥100.00 available)" in html
    account = client.get("/account/").content.decode()
    assert "Shop balance" in account and "¥100.00" in account
    paid = client.post(url, {"provider": "balance"})
    assert paid.status_code == 302 and paid["Location"] == f"/account/orders/{order.pk}/"
    with in_shop(alpha):
        assert Order.objects.get(pk=order.pk).status == Order.Status.PAID and wallet.balance(buyer) == 100
    assert "¥1.00" in client.get("/account/").content.decode()


def test_the_wallet_api_and_shops_never_share_a_balance(alpha: Any, beta: Any) -> None:
    buyer, client = buyer_of(alpha)
    other, beta_client = buyer_of(beta)
    topped_up(alpha, buyer, 2_500)
    topped_up(alpha, buyer, 500, reference="top-up-2")
    found = client.get("/api/v1/wallet/")
    assert found.status_code == 200
    body = found.json()
    assert body["balance"] == 3_000 and body["currency"] == "CNY"
    assert [(e["kind"], e["amount"]) for e in body["entries"]] == [("adjust", 500), ("adjust", 2_500)]
    assert shop_client(alpha).get("/api/v1/wallet/").status_code in (401, 403)  # members only
    # alpha's token on beta's host is no one there
    token = client.defaults["HTTP_AUTHORIZATION"]
    assert shop_client(beta, HTTP_AUTHORIZATION=token).get("/api/v1/wallet/").status_code == 401
    # beta's member (whatever its id) has nothing, and beta's ledger is empty
    assert beta_client.get("/api/v1/wallet/").json()["balance"] == 0
    with in_shop(beta):
        assert wallet.balance(other) == 0 and wallet.balance(buyer.pk) == 0
        assert not WalletEntry.objects.exists() and not WalletBalance.objects.exists()
    order = unpaid_order(beta, other, price=100)
    refused = post(beta_client, f"/api/v1/orders/{order.pk}/pay/", {"provider": "balance"})
    assert refused.status_code == 400 and "provider" in refused.json()
    with in_shop(alpha):
        assert wallet.balance(buyer) == 3_000 and wallet.verify() == []
    # the merchant sees it on the members page
    members = english(owner_client(alpha)).get(f"/console/members/?q={buyer.phone}")
    assert members.status_code == 200
    assert "Shop balance" in members.content.decode() and "¥30.00" in members.content.decode()
