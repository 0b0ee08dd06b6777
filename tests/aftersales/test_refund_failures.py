"""A card refund the provider refuses never leaves an after-sale looking refunded: it goes
back to the merchant to refund again (a new attempt), and the order closes only once the
money is actually back."""

from __future__ import annotations

from typing import Any

import pytest

from shop.aftersales import services
from shop.aftersales.models import AfterSale
from shop.orders.models import Order
from shop.payments import records
from shop.payments.models import Payment, Refund
from tests.aftersales.conftest import ask, buyer_and_client, line_ids, paid_order
from tests.conftest import in_shop

pytestmark = pytest.mark.django_db


def test_a_refused_card_refund_sends_the_aftersale_back_for_another_attempt(
    alpha: Any, django_capture_on_commit_callbacks: Any
) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(10_000, 1)])
    with in_shop(alpha):  # as if it had been paid by card
        Payment.objects.filter(order=order).update(provider="stripe", external_id="pi_card")
    line = line_ids(alpha, order)[0]
    created = ask(client, alpha, order, [(line, 1)])
    assert created.status_code == 201, created.content
    with in_shop(alpha):
        aftersale = AfterSale.objects.get(pk=created.json()["id"])
        services.aftersale_approve(aftersale, actor="staff:1")
        services.aftersale_refund(aftersale, actor="staff:1")
        aftersale.refresh_from_db()
        first = aftersale.refunds.get()
        assert aftersale.status == "refunded" and first.status == Refund.Status.PENDING
        assert Order.objects.get(pk=order.pk).status == "paid"  # not closed while the money is not back
        with django_capture_on_commit_callbacks(execute=True):
            records.refund_failed(first.pk, "expired card")
        aftersale.refresh_from_db()
        assert (aftersale.status, aftersale.refund_attempt) == ("approved", 1)
        last = aftersale.log.order_by("-id").first()
        assert last is not None and last.note.endswith("expired card")
        services.aftersale_refund(aftersale, actor="staff:1")  # the merchant tries again
        second = aftersale.refunds.exclude(pk=first.pk).get()
        assert second.status == Refund.Status.PENDING and second.idempotency_key != first.idempotency_key
        with django_capture_on_commit_callbacks(execute=True):
            records.refund_succeeded(second.pk, external_id="re_ok")
        assert Order.objects.get(pk=order.pk).status == "cancelled"  # every unit refunded: closed
        assert Payment.objects.get(order=order).refunded_amount == 10_000


def test_the_merchant_can_end_an_approved_aftersale_with_a_reason(alpha: Any) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(10_000, 2)])
    created = ask(client, alpha, order, [(line_ids(alpha, order)[0], 2)])
    with in_shop(alpha):
        aftersale = AfterSale.objects.get(pk=created.json()["id"])
        services.aftersale_approve(aftersale, actor="staff:1")
        services.aftersale_reject(aftersale, reason="settled by phone", actor="staff:1")
        aftersale.refresh_from_db()
        assert aftersale.status == "rejected"
