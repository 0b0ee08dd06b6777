"""Stateful property test of the money: a hypothesis ``RuleBasedStateMachine`` drives a shop
with three commission levels, fixed and percent overrides, a 0% product, a product whose
commission rounds to nothing, a capped fixed-amount product, a full reduction and coupons
through random histories — orders, offline / shop-balance / card payments (duplicate and
late card payments too), cancellations, order-page refunds (an amount, lines and units,
shipping), after-sales with partial quantities (refund only, or return and refund),
refunds that succeed or fail later, shipping and completion, settlement at random times,
withdrawals requested, reviewed, paid (with the merchant's decision about a debt) or
failed, two requests at once — and after every step the reconciliation verifier
(``distribution.verify``) finds nothing, and the payments agree with an independent
count of the money.

``make test`` runs ``MONEY_EXAMPLES`` examples (default 200) of up to ``MONEY_STEPS`` steps
(default 8); ``make test-long`` runs 10,000 examples of up to 20 steps. The shop's
fixture data (distributors, buyers, products, rules) is made once per test; each example
runs in a savepoint rolled back afterwards."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from tests.conftest import in_shop
from tests.distribution.conftest import bound_buyer, configure, distributor
from tests.orders.conftest import product

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("MONEY_EXAMPLES", "200"))
STEPS = int(os.environ.get("MONEY_STEPS", "8"))
PRICES = [77, 888, 2666, 5, 11758]  # capped fixed amounts, 0%, default, rounds to 0, 20%


@contextmanager
def _events_at_once() -> Iterator[None]:
    """After-commit work runs as it is published (the test's transactions never commit)."""

    def now(func: Any, *args: Any, **kwargs: Any) -> None:
        func()

    with (
        mock.patch("shop.events.transaction.on_commit", side_effect=now),
        mock.patch("shop.payments.records.transaction.on_commit", side_effect=lambda *a, **k: None),
    ):
        yield


class World:
    """The fixture data every example starts from."""

    def __init__(self, tenant: Any) -> None:
        from platform_core.features import forget_overrides
        from shop.catalogue.models import Sku
        from shop.checkout.models import ShippingTemplate
        from shop.marketing import services as marketing
        from shop.wallet import services as wallet

        self.tenant = tenant
        tenant.feature_overrides.create(key="distribution_levels", value=3)
        forget_overrides(tenant)
        configure(
            tenant,
            levels=3,
            rate_level1_bp=1000,
            rate_level2_bp=500,
            rate_level3_bp=200,
            hold_days=0,
            commission_cap_bp=6000,
            withdrawal_minimum=100,
            withdrawal_fee_bp=100,
            withdrawal_methods=["shop_balance", "bank"],
        )
        self.top = distributor(tenant)
        self.mid = distributor(tenant, self.top)
        self.low = distributor(tenant, self.mid)
        self.distributors = [self.top, self.mid, self.low]
        self.buyers = [bound_buyer(tenant, self.low), bound_buyer(tenant, self.low), bound_buyer(tenant, self.mid)]
        self.skus = [product(tenant, price=p, stock=100_000, name=f"P{p}") for p in PRICES]
        with in_shop(tenant):
            products = [Sku.objects.get(pk=s.pk).product_id for s in self.skus]
        configure(
            tenant,
            hold_days=0,
            overrides=[
                {"scope": "product", "target": products[0], "level": 1, "mode": "fixed", "amount": 50},
                {"scope": "product", "target": products[0], "level": 2, "mode": "fixed", "amount": 27},
                {"scope": "product", "target": products[1], "level": 1, "mode": "percent", "rate_bp": 0},
                {"scope": "product", "target": products[1], "level": 2, "mode": "percent", "rate_bp": 0},
                {"scope": "product", "target": products[1], "level": 3, "mode": "percent", "rate_bp": 0},
                {"scope": "product", "target": products[4], "level": 1, "mode": "percent", "rate_bp": 2000},
            ],
        )
        now = timezone.now()
        with in_shop(tenant):
            ShippingTemplate.objects.update_or_create(
                is_default=True, defaults={"name": "std", "default_fee": 800, "free_over": None, "rules": []}
            )
            marketing.reduction_save(
                {
                    "name": "满减",
                    "kind": "amount",
                    "tiers": [{"threshold": 3000, "value": 7}, {"threshold": 12000, "value": 333}],
                    "starts_at": (now - timedelta(days=1)).isoformat(),
                    "ends_at": (now + timedelta(days=30)).isoformat(),
                }
            )
            self.coupon = marketing.coupon_template_save(
                {
                    "name": "满10减3",
                    "kind": "fixed",
                    "amount": 300,
                    "min_spend": 1000,
                    "valid_days": 30,
                    "per_member_limit": 100,
                    "total": 100_000,
                }
            )
            for buyer in self.buyers:
                wallet.credit(buyer, 10_000_000, kind=wallet.Kind.ADJUST, reference=f"seed-{buyer.pk}")
        self.base_orders = [self._settled_order(buyer, quantity) for buyer, quantity in ((0, 2), (2, 1))]

    def _settled_order(self, buyer: int, quantity: int) -> int:
        """An order completed and its commission settled: the distributors start with money
        available (to withdraw, or to be clawed back from)."""
        from distribution import commission, settlement
        from shop.orders import services as orders
        from shop.orders.models import Order
        from shop.payments import services as payments

        who = self.buyers[buyer]
        with in_shop(self.tenant):
            placed = orders.order_create(
                who, items=[(self.skus[4].pk, quantity, None)], fulfilment="delivery", address_id=who.addresses.get().pk
            )
            payments.offline_confirm(placed, amount=placed.payable, actor="staff:1")
            placed.refresh_from_db()
            commission.commission_for_order(self.tenant, placed)
            orders.order_ship(placed, carrier="SF", tracking_number="T0", actor="staff:1")
            orders.order_confirm_delivery(placed, actor="member")
            orders.order_complete(placed, actor="system")
            Order.objects.filter(pk=placed.pk).update(completed_at=timezone.now() - timedelta(days=1))
            assert settlement.settle_due() >= 1
            return int(placed.pk)


class MoneyMachine(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.orders: list[int] = list(self.world.base_orders)
        self.withdrawals: list[int] = []
        self.n = 0
        self.dirty = False  # something changed since the last check
        self._look()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- helpers ------------------------------------------------------------------------------
    def _order(self, i: int, *statuses: str) -> Any:
        """One of this example's orders (in one of ``statuses``), or None."""
        from shop.orders.models import Order

        found = Order.objects.filter(pk__in=self.orders).order_by("id")
        if statuses:
            found = found.filter(status__in=statuses)
        mine = list(found)
        return mine[i % len(mine)] if mine else None

    def _did(self) -> None:
        """The calling rule changed something: the next check runs, and it counts."""
        self.dirty = True
        DONE[sys._getframe(1).f_code.co_name] += 1

    def _has(self, *statuses: str) -> bool:
        return bool(set(self.seen["statuses"]) & set(statuses))

    def _look(self) -> None:
        """What the preconditions ask about, read once after each step (not per rule)."""
        from distribution.models import Withdrawal
        from shop.orders.models import Order
        from shop.payments.models import Refund

        self.seen: dict[str, Any] = {
            "statuses": set(Order.objects.filter(pk__in=self.orders).values_list("status", flat=True)),
            "pending": Refund.objects.filter(status="pending").exists(),
            "open": Withdrawal.objects.filter(pk__in=self.withdrawals, status__in=["requested", "approved"]).exists(),
        }

    def _key(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:06d}"

    def _commission(self, order: Any) -> None:
        from distribution import commission

        order.refresh_from_db()
        if order.paid_at is not None:
            commission.commission_for_order(self.world.tenant, order)  # (idempotent: the event again)

    def _sync(self, refund: Any) -> None:
        from distribution import settlement

        settlement.commission_sync_refund(refund)  # (idempotent: the event again)

    # --- orders and payments --------------------------------------------------------------------
    @rule(
        buyer=st.integers(0, 2),
        items=st.lists(st.tuples(st.integers(0, len(PRICES) - 1), st.integers(1, 3)), min_size=1, max_size=3),
        coupon=st.booleans(),
        provider=st.sampled_from(["offline", "offline", "balance", "card", "unpaid"]),
    )
    def buy(self, buyer: int, items: list[tuple[int, int]], coupon: bool, provider: str) -> None:
        """An order (a coupon, the full reduction by its tiers), paid offline, from the shop
        balance or by card — or left unpaid."""
        from shop.marketing import services as marketing
        from shop.orders import services as orders

        who = self.world.buyers[buyer]
        wanted: dict[int, int] = {}
        for index, quantity in items:
            wanted[self.world.skus[index].pk] = wanted.get(self.world.skus[index].pk, 0) + quantity
        mine = marketing.coupon_issue(self.world.coupon, [who.pk])["coupons"][0] if coupon else None
        try:
            with transaction.atomic():
                placed = orders.order_create(
                    who,
                    items=[(sku, q, None) for sku, q in wanted.items()],
                    fulfilment="delivery",
                    address_id=who.addresses.get().pk,
                    coupon=mine,
                )
        except (ValidationError, orders.OrderRefused):
            return
        self.orders.append(placed.pk)
        self._did()
        if provider != "unpaid":
            self._pay(placed, provider)

    def _pay(self, order: Any, provider: str) -> None:
        from shop.payments import records
        from shop.payments import services as payments
        from shop.payments.providers import BalanceProvider

        if provider == "offline" or order.payable < 1:
            payments.offline_confirm(order, amount=order.payable, actor="staff:1")
        elif provider == "balance":
            BalanceProvider().start(order, actor="member")
        else:
            payment = records.open_stripe_payment(order, actor="member", destination="", fee_bps=0)
            records.apply_intent(payment.pk, self._intent(payment), start_refund=lambda refund: None)
        self._commission(order)

    @precondition(lambda self: self._has("unpaid"))
    @rule(i=st.integers(0, 1000), provider=st.sampled_from(["offline", "balance", "card"]))
    def pay_later(self, i: int, provider: str) -> None:
        order = self._order(i, "unpaid")
        if order is None:
            return
        self._pay(order, provider)
        self._did()

    def _intent(self, payment: Any) -> dict[str, Any]:
        from shop.payments import records

        if not payment.external_id:
            payment = records.intent_attached(payment, {"id": self._key("pi"), "client_secret": "s"})
        return {
            "id": payment.external_id,
            "status": "succeeded",
            "amount": payment.amount,
            "amount_received": payment.amount,
        }

    @precondition(lambda self: self._has("paid", "shipped", "delivered"))
    @rule(i=st.integers(0, 1000))
    def duplicate_card_payment(self, i: int) -> None:
        """A card payment started before the order was paid another way succeeds now."""
        from shop.payments import records
        from shop.payments.models import Payment

        order = self._order(i, "paid", "shipped", "delivered")
        if order is None or order.payable < 1:
            return
        payment = Payment.objects.create(
            order=order, provider="stripe", amount=order.payable, currency=order.currency, external_id=self._key("pi")
        )
        records.apply_intent(payment.pk, self._intent(payment), start_refund=lambda refund: None)
        self._did()

    @precondition(lambda self: self._has("unpaid"))
    @rule(i=st.integers(0, 1000))
    def late_card_payment(self, i: int) -> None:
        """The buyer pays by card just after the unpaid order was cancelled."""
        from shop.orders import services as orders
        from shop.payments import records

        order = self._order(i, "unpaid")
        if order is None or order.payable < 1:
            return
        payment = records.open_stripe_payment(order, actor="member", destination="", fee_bps=0)
        payment = records.intent_attached(payment, {"id": self._key("pi"), "client_secret": "s"})
        orders.order_cancel(order, actor="system", reason="unpaid timeout")
        records.apply_intent(payment.pk, self._intent(payment), start_refund=lambda refund: None)
        self._commission(order)  # (revived by the shop's setting, or refunded)
        self._did()

    @precondition(lambda self: self._has("unpaid"))
    @rule(i=st.integers(0, 1000))
    def cancel_unpaid(self, i: int) -> None:
        from shop.orders import services as orders

        order = self._order(i, "unpaid")
        if order is not None:
            orders.order_cancel(order, actor="member", reason="changed my mind")
            self._did()

    # --- refunds ----------------------------------------------------------------------------------
    @precondition(lambda self: self._has("paid", "shipped", "delivered", "completed", "cancelled"))
    @rule(
        i=st.integers(0, 1000),
        mode=st.sampled_from(["amount", "lines", "shipping", "everything"]),
        share=st.integers(1, 100),
        sent=st.booleans(),
    )
    def order_page_refund(self, i: int, mode: str, share: int, sent: bool) -> None:
        from shop.payments import allocation
        from shop.payments import services as payments
        from shop.payments.models import Payment

        order = self._order(i, "paid", "shipped", "delivered", "completed", "cancelled")
        if order is None:
            return
        payment = Payment.objects.filter(order=order, status="succeeded", pays_order=True).first()
        if payment is None or payment.refundable < 1:
            return
        left = allocation.refundable(order)
        kwargs: dict[str, Any] = {}
        if mode == "amount":
            amount = max(1, (left.goods + left.shipping) * share // 100)
            kwargs["amount"] = amount
        elif mode == "shipping":
            kwargs["shipping"] = max(1, left.shipping * share // 100)
        elif mode == "lines":
            kwargs["lines"] = tuple(
                (line_id, max(0, x.units * share // 100), None) for line_id, x in left.lines.items() if x.units
            )
            kwargs["shipping"] = left.shipping * share // 200
        else:
            kwargs["amount"] = left.goods + left.shipping
        try:
            with transaction.atomic():
                refund = payments.order_refund(
                    order,
                    payment=payment.pk,
                    reason="test",
                    actor="staff:1",
                    reference=self._key("ref") if sent else "",
                    **kwargs,
                )
        except ValidationError:
            return  # nothing left to refund that way, or a refusal: nothing written
        self._did()
        refund.refresh_from_db()
        if refund.status == "succeeded":
            self._sync(refund)

    @precondition(lambda self: self._pending_refunds())
    @rule(i=st.integers(0, 1000), back=st.booleans())
    def a_pending_refund_ends(self, i: int, back: bool) -> None:
        """The provider confirms or refuses a refund on its way (card or offline)."""
        from shop.payments import records
        from shop.payments.models import Refund

        pending = list(Refund.objects.filter(status="pending").order_by("id"))
        if not pending:
            return
        refund = pending[i % len(pending)]
        self._did()
        if back:
            refund = records.refund_succeeded(refund.pk, reference=self._key("sent"))
            self._sync(refund)
        else:
            records.refund_failed(refund.pk, "declined")

    @precondition(lambda self: self._has("paid", "shipped", "delivered"))
    @rule(
        i=st.integers(0, 1000),
        share=st.integers(1, 100),
        outcome=st.sampled_from(["refund_sent", "refund_pending", "reject"]),
    )
    def aftersale(self, i: int, share: int, outcome: str) -> None:
        from shop.aftersales import selectors
        from shop.aftersales import services as aftersales
        from shop.payments import allocation

        order = self._order(i, "paid", "shipped", "delivered")
        if order is None:
            return
        left = allocation.refundable(order)
        lines = [
            {"line": line_id, "quantity": max(1, x.units * share // 100)}
            for line_id, x in left.lines.items()
            if x.units
        ][: 1 + share % 3]
        if not lines:
            return
        shipped = order.status != "paid"
        reason = selectors.reasons(active_only=True)[0]
        try:
            with transaction.atomic():
                asked = aftersales.aftersale_request(
                    order.member,
                    order,
                    {"kind": "return_refund" if shipped else "refund_only", "reason": reason.pk, "lines": lines},
                )
                self._did()
                if outcome == "reject":
                    aftersales.aftersale_reject(asked, reason="no", actor="staff:1")
                    return
                asked = aftersales.aftersale_approve(asked, actor="staff:1")
                if shipped:
                    aftersales.aftersale_ship_return(asked, member=order.member, carrier="SF", tracking_number="R1")
                    aftersales.aftersale_receive(asked, actor="staff:1")
                aftersales.aftersale_refund(
                    asked, actor="staff:1", reference=self._key("as") if outcome == "refund_sent" else ""
                )
        except ValidationError:
            return
        for refund in asked.refunds.filter(status="succeeded"):
            self._sync(refund)

    # --- fulfilment and settlement -----------------------------------------------------------------
    @precondition(lambda self: self._has("paid", "shipped", "delivered"))
    @rule(i=st.integers(0, 1000), how_far=st.sampled_from(["shipped", "delivered", "completed", "settled"]))
    def fulfil(self, i: int, how_far: str) -> None:
        """Shipped, delivered, or completed a day ago (after-sales closed: due to settle), and
        maybe settled at once."""
        from distribution import settlement
        from shop.orders import services as orders
        from shop.orders.models import Order

        order = self._order(i, "paid", "shipped", "delivered")
        if order is None:
            return
        try:
            with transaction.atomic():
                if order.status == "paid":
                    order = orders.order_ship(order, carrier="SF", tracking_number="T1", actor="staff:1")
                if order.status == "shipped" and how_far != "shipped":
                    order = orders.order_confirm_delivery(order, actor="member")
                if order.status == "delivered" and how_far in ("completed", "settled"):
                    order = orders.order_complete(order, actor="system")
                    Order.objects.filter(pk=order.pk).update(completed_at=timezone.now() - timedelta(days=1))
        except (ValidationError, orders.TransitionRefused):
            return
        self._did()
        if how_far == "settled":
            settlement.settle_due()

    @precondition(lambda self: self._has("completed"))
    @rule()
    def settle(self) -> None:
        from distribution import settlement

        if settlement.settle_due():
            self._did()

    # --- withdrawals -----------------------------------------------------------------------------------
    @rule(who=st.integers(0, 2), share=st.integers(1, 110), twice=st.booleans())
    def withdraw(self, who: int, share: int, twice: bool) -> None:
        """A share of what is available (more than all of it: refused)."""
        from distribution import ledger, withdrawals

        d = self.world.distributors[who]
        amount = max(50, ledger.balances(d.pk)["available"] * share // 100)
        for _n in range(2 if twice else 1):  # a second request while the first is open: refused
            try:
                with transaction.atomic():
                    made = withdrawals.withdrawal_request(d, {"amount": amount, "method": "bank", **BANK})
            except ValidationError:
                continue
            self.withdrawals.append(made.pk)
            self._did()

    @precondition(lambda self: self._open_withdrawals())
    @rule(
        i=st.integers(0, 1000),
        choice=st.integers(0, 1000),
    )
    def review(self, i: int, choice: int) -> None:
        """Of an open withdrawal, one of the actions its state allows (the merchant's
        decision about a debt among them)."""
        from distribution import withdrawals
        from distribution.models import Withdrawal

        found = list(Withdrawal.objects.filter(pk__in=self.withdrawals, status__in=["requested", "approved"]))
        w = found[i % len(found)]
        actions = ["approve", "reject"] if w.status == "requested" else ["paid", "paid", "failed"]
        if withdrawals.debt_of(w.distributor_id):
            actions += ["reduce", "hold", "pay_anyway"]
        action = actions[choice % len(actions)]
        try:
            with transaction.atomic():
                if action in ("approve", "reject"):
                    withdrawals.withdrawal_review(w, approve=action == "approve", actor="staff:1", reason="r")
                elif action == "paid":
                    withdrawals.withdrawal_paid(w, reference=self._key("wd"), actor="staff:1")
                elif action == "failed":
                    withdrawals.withdrawal_failed(w, reason="bank said no", actor="staff:1")
                else:
                    withdrawals.withdrawal_debt_decide(w, decision=action, reason="decided", actor="staff:1")
        except ValidationError:
            return
        self._did()

    def _pending_refunds(self) -> bool:
        return bool(self.seen["pending"])

    def _open_withdrawals(self) -> bool:
        return bool(self.seen["open"])

    # --- after every step ------------------------------------------------------------------------------
    @invariant()
    def reconciles(self) -> None:
        """After every step that changed something (a step that changed nothing leaves the
        verifier's answer as it was): the verifier finds nothing, and an independent count
        of the money agrees: what each payment refunded is its refunds' parts, goods and
        shipping never beyond what the order paid, a payment that never paid for the order
        refunded for nothing of it."""
        from django.db.models import Sum

        from distribution import verify
        from shop.payments.models import Payment, RefundLine

        if not self.dirty:
            return
        self.dirty = False
        self._look()
        found = verify.verify_shop()
        assert found == [], [f.as_dict() for f in found]

        for payment in Payment.objects.filter(refunded_amount__gt=0):
            parts = RefundLine.objects.filter(refund__payment=payment).exclude(refund__status="failed")
            by_kind = dict(parts.values("kind").annotate(total=Sum("amount")).values_list("kind", "total"))
            assert sum(by_kind.values()) == payment.refunded_amount
            if not payment.pays_order:
                assert set(by_kind) <= {"surplus"}
            else:
                assert by_kind.get("goods", 0) + by_kind.get("shipping", 0) <= payment.order.payable


BANK = {"account_details": {"account_number": "6222"}}
DONE: Counter[str] = Counter()  # rule → steps that changed something, over the whole run


def test_money_histories_always_reconcile(beta: Any) -> None:
    with in_shop(beta), _events_at_once():
        MoneyMachine.world = World(beta)
        run_state_machine_as_test(
            MoneyMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                print_blob=True,
            ),
        )
    # what the run did (``-s`` shows it): every rule must have changed something
    print(f"\nmoney machine: {EXAMPLES} examples, steps that changed something: {dict(DONE.most_common())}")
    assert set(DONE) >= {"buy", "order_page_refund", "aftersale", "fulfil", "withdraw", "review"}
