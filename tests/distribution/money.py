"""Helpers for the money reconciliation tests: orders with exact amounts (products,
product rate overrides, a shipping fee, a full reduction), paid offline, refunded from
the order page, by after-sales and by a duplicate card payment — all through the real
services with the after-commit events delivered."""

from __future__ import annotations

from typing import Any

from tests.conftest import in_shop
from tests.orders.conftest import product


def shipping(tenant: Any, fee: int) -> None:
    from shop.checkout.models import ShippingTemplate

    with in_shop(tenant):
        ShippingTemplate.objects.update_or_create(
            is_default=True, defaults={"name": "std", "default_fee": fee, "free_over": None, "rules": []}
        )


def reduction(tenant: Any, threshold: int, off: int) -> None:
    """满减: ``off`` fen off from ``threshold`` fen of goods (allocated to lines by largest remainder)."""
    from datetime import timedelta

    from django.utils import timezone

    from shop.marketing import services

    now = timezone.now()
    with in_shop(tenant):
        services.reduction_save(
            {
                "name": "满减",
                "kind": "amount",
                "tiers": [{"threshold": threshold, "value": off}],
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
            }
        )


def skus(tenant: Any, *items: tuple[str, int]) -> list[Any]:
    """One product per (name, unit price), on sale."""
    return [product(tenant, price=price, stock=100, name=name) for name, price in items]


def product_rates(tenant: Any, rates: dict[Any, int]) -> None:
    """Level-1 percent overrides per product: {sku: rate in bp}."""
    from tests.distribution.conftest import configure

    configure(
        tenant,
        overrides=[
            {"scope": "product", "target": sku.product_id, "level": 1, "mode": "percent", "rate_bp": bp}
            for sku, bp in rates.items()
        ],
    )


def order(tenant: Any, buyer: Any, items: list[tuple[Any, int]]) -> Any:
    from shop.orders import services

    with in_shop(tenant):
        return services.order_create(
            buyer,
            items=[(sku.pk, quantity, None) for sku, quantity in items],
            fulfilment="delivery",
            address_id=buyer.addresses.get().pk,
        )


def confirm_offline(tenant: Any, placed: Any, deliver: Any) -> Any:
    from shop.payments import services as payments

    with in_shop(tenant), deliver():
        payments.offline_confirm(placed, amount=placed.payable, actor="staff:1")
    with in_shop(tenant):
        placed.refresh_from_db()
    return placed


def paid_lines(tenant: Any, placed: Any) -> list[tuple[str, int, int]]:
    with in_shop(tenant):
        return list(placed.lines.order_by("id").values_list("product_name", "quantity", "amount_paid"))


def order_page_refund(tenant: Any, placed: Any, yuan: str, deliver: Any, **more: Any) -> None:
    """The merchant refunds from the order page (offline payment, money already sent back)."""
    from shop.payments import console as payments_console

    data = {"amount": yuan, "reference": "bank transfer 1", "reason": "partial refund", **more}
    with in_shop(tenant), deliver():
        payments_console.handle(placed, "refund", data, "staff:1")


def duplicate_card_payment(tenant: Any, placed: Any, deliver: Any) -> Any:
    """A card payment the buyer started while the order was unpaid succeeds after the
    merchant confirmed an offline payment: flagged as a duplicate and refunded in full
    automatically (Stripe confirms the refund). Returns that refund."""
    from shop.payments import records
    from shop.payments.models import Payment, Refund

    with in_shop(tenant):
        payment = Payment.objects.get(order=placed, provider="stripe")
        intent = {
            "id": "pi_duplicate_1",
            "status": "succeeded",
            "amount": payment.amount,
            "amount_received": payment.amount,
            "metadata": {"order_id": str(placed.pk)},
        }
        with deliver():
            outcome = records.apply_intent(payment.pk, intent, start_refund=lambda refund: None)
        assert "duplicate_payment" in outcome, outcome
        refund = Refund.objects.get(payment=payment)
        with deliver():
            records.refund_succeeded(refund.pk, external_id="re_duplicate_1")
        return refund


def start_card_payment(tenant: Any, placed: Any) -> Any:
    """The buyer opens a card payment (a PaymentIntent) while the order is unpaid."""
    from shop.payments import records

    with in_shop(tenant):
        payment = records.open_stripe_payment(placed, actor="member", destination="", fee_bps=0)
        return records.intent_attached(payment, {"id": "pi_duplicate_1", "client_secret": "pi_duplicate_1_secret_x"})


def findings(tenant: Any) -> list[dict[str, Any]]:
    """What the reconciliation verifier finds in the shop, as plain dicts."""
    from distribution import verify

    with in_shop(tenant):
        return [f.as_dict() for f in verify.verify_shop()]


def codes(found: list[dict[str, Any]]) -> list[str]:
    return sorted({f["code"] for f in found})
