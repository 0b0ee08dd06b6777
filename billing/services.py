"""Billing: every write, each in one transaction with the account row locked.

A shop's tier follows what it pays for. Stripe is the source of truth for subscriptions:
webhooks are recorded once by event id and processed by a task that re-reads the
subscription and invoice from Stripe, so duplicates and out-of-order delivery converge
on Stripe's current state. Non-payment leads to ``past_due``, then after the grace period
to a suspension by billing (storefront closed, console open); paying lifts it at once.
Nothing is ever deleted.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import BillingAccount, Invoice
from billing.plans import Plan, plan, plan_for_stripe_id, plans
from platform_core import stripe_gateway as gateway
from platform_core.audit import record_operator_action
from platform_core.features import TIER_CHOICES, TIERS, limits_exceeded_for_tier
from platform_core.money import format_money
from tenants.models import Tenant
from tenants.services import tenant_change_tier, tenant_lift_billing_suspension

log = logging.getLogger(__name__)
ACCESS_STATUSES = {"trialing", "active"}
_BILLING_LOCK = 0x46584E10  # advisory lock class for one shop's billing actions
OVERDUE_STATUSES = {"past_due", "unpaid", "incomplete", "incomplete_expired", "canceled"}
CUSTOM_PLAN_KEY = "custom"


class BillingError(Exception):
    """A refusal the merchant should read (card declined, plan not allowed, …)."""

    def __init__(self, message: str, *, code: str = "billing_error", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


def _d(obj: Any) -> dict[str, Any]:
    """Stripe SDK objects as plain dicts (recursively)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


# --- accounts and plans ---------------------------------------------------------------
def account_for(tenant: Tenant) -> BillingAccount:
    """The shop's billing account, created on first use with the platform's free trial."""
    account = BillingAccount.objects.filter(tenant=tenant).first()
    if account is not None:
        return account
    default_plan = f"{tenant.tier}_monthly" if plan(f"{tenant.tier}_monthly") else ""
    account, _created = BillingAccount.objects.get_or_create(
        tenant=tenant,
        defaults={
            "provider": BillingAccount.Provider.STRIPE if gateway.stripe_enabled() else BillingAccount.Provider.OFFLINE,
            "status": BillingAccount.Status.TRIAL,
            "plan_key": default_plan,
            "trial_ends_at": tenant.created_at + timedelta(days=settings.BILLING_TRIAL_DAYS),
        },
    )
    return account


def _locked(account: BillingAccount) -> BillingAccount:
    return BillingAccount.objects.select_for_update().select_related("tenant").get(pk=account.pk)


def custom_plan(account: BillingAccount) -> Plan | None:
    if not account.custom_monthly_amount:
        return None
    return Plan(
        key=CUSTOM_PLAN_KEY,
        tier="custom",
        interval="month",
        amount=account.custom_monthly_amount,
        # a new quote is a new price in Stripe (prices are immutable there)
        stripe_id=f"fenxiao-custom-{account.tenant.slug}-{account.custom_monthly_amount}",
    )


def price_of(target: Plan) -> int:
    """The plan's price as Stripe has it (prices live in Stripe), cached for ten minutes;
    the configured amount without Stripe or when Stripe cannot be reached."""
    if not gateway.stripe_enabled():
        return target.amount
    key = f"billing:plan-amount:{target.stripe_id}"
    amount = cache.get(key)
    if amount is None:
        try:
            amount = int(gateway.v1().plans.retrieve(target.stripe_id).amount)
        except gateway.StripeError:
            return target.amount
        cache.set(key, amount, 600)
    return int(amount)


def available_plans(account: BillingAccount) -> list[Plan]:
    found = list(plans().values())
    quoted = custom_plan(account)
    if quoted:
        found.append(quoted)
    return found


def resolve_plan(account: BillingAccount, key: str) -> Plan:
    found = custom_plan(account) if key == CUSTOM_PLAN_KEY else plan(key)
    if found is None:
        raise BillingError(_("Unknown plan."), code="unknown_plan")
    return found


def _plan_of_stripe_id(account: BillingAccount, stripe_id: str) -> Plan | None:
    custom_prefix = f"fenxiao-custom-{account.tenant.slug}-"
    if stripe_id.startswith(custom_prefix):
        amount = stripe_id.removeprefix(custom_prefix)
        return Plan(CUSTOM_PLAN_KEY, "custom", "month", int(amount) if amount.isdigit() else 0, stripe_id)
    return plan_for_stripe_id(stripe_id)


def check_plan_allowed(account: BillingAccount, target: Plan) -> None:
    """Refuse a move to a tier whose limits the shop already exceeds, listing what to reduce."""
    problems = limits_exceeded_for_tier(account.tenant, target.tier)
    if problems:
        lines = [
            _("%(label)s: %(used)s used, the %(tier)s plan allows %(limit)s — remove %(reduce)s first.")
            % {
                "label": p["label"],
                "used": p["used"],
                "tier": tier_label(target.tier),
                "limit": p["limit"],
                "reduce": p["reduce_by"],
            }
            for p in problems
        ]
        raise BillingError(" ".join(lines), code="limits_exceeded", details=problems)


def has_access(account: BillingAccount, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if account.trial_ends_at and account.trial_ends_at > now:
        return True  # the platform's free trial holds whatever the subscription's state
    if account.status == BillingAccount.Status.TRIAL:
        return False
    if account.provider == BillingAccount.Provider.OFFLINE and account.status == BillingAccount.Status.ACTIVE:
        return bool(account.current_period_end and account.current_period_end > now)
    return account.status in ACCESS_STATUSES


def _apply_plan_tier(account: BillingAccount, reason: str) -> None:
    target = resolve_plan(account, account.plan_key).tier if account.plan_key else None
    if target and target in TIERS and account.tenant.tier != target:
        account.tenant = tenant_change_tier(account.tenant, target, actor=None, reason=reason)


def _set_overdue(account: BillingAccount, since: datetime) -> None:
    if account.past_due_since is None:
        account.past_due_since = since


def _settle(account: BillingAccount, reason: str) -> None:
    """Paid up: clear the dunning clock and lift a suspension billing imposed."""
    account.past_due_since = None
    tenant_lift_billing_suspension(account.tenant, reason=reason)


def money(amount: int, currency: str | None = None) -> str:
    return format_money(amount, currency or settings.BILLING_CURRENCY)


def tier_label(tier: str) -> str:
    return str(dict(TIER_CHOICES).get(tier, tier))


def plan_label(target: Plan) -> str:
    interval = _("monthly") if target.interval == "month" else _("yearly")
    return f"{tier_label(target.tier)} · {interval}"


# --- Stripe: customers, cards, subscriptions ------------------------------------------
def _ensure_customer(account: BillingAccount) -> str:
    if account.stripe_customer_id:
        return account.stripe_customer_id
    tenant = account.tenant
    customer = gateway.v1().customers.create(
        params={
            "email": tenant.owner_email,
            "name": tenant.name,
            "metadata": {"tenant_id": str(tenant.pk), "slug": tenant.slug},
        },
        options={"idempotency_key": f"fenxiao-customer-{tenant.pk}"},
    )
    BillingAccount.objects.filter(pk=account.pk).update(stripe_customer_id=customer.id)
    account.stripe_customer_id = customer.id
    return str(customer.id)


def start_card_setup(account: BillingAccount) -> str:
    """A SetupIntent for the card form (Stripe Elements); returns its client secret."""
    customer = _ensure_customer(account)
    intent = gateway.v1().setup_intents.create(
        params={"customer": customer, "usage": "off_session", "payment_method_types": ["card"]}
    )
    return str(intent.client_secret)


def _use_payment_method(account: BillingAccount, payment_method_id: str) -> None:
    v1 = gateway.v1()
    method = _d(v1.payment_methods.retrieve(payment_method_id))
    if method.get("customer") != account.stripe_customer_id:
        v1.payment_methods.attach(payment_method_id, params={"customer": account.stripe_customer_id})
    v1.customers.update(
        account.stripe_customer_id, params={"invoice_settings": {"default_payment_method": payment_method_id}}
    )
    card = method.get("card") or {}
    account.card_brand = str(card.get("brand") or "")[:20]
    account.card_last4 = str(card.get("last4") or "")[:4]


def _ensure_stripe_plan(account: BillingAccount, target: Plan) -> None:
    if target.key != CUSTOM_PLAN_KEY:
        return
    v1 = gateway.v1()
    try:
        v1.plans.retrieve(target.stripe_id)
    except gateway.StripeError:
        v1.plans.create(
            params={
                "id": target.stripe_id,
                "amount": target.amount,
                "currency": settings.BILLING_CURRENCY,
                "interval": "month",
                "product": {"name": f"Fenxiao custom — {account.tenant.name}"},
            }
        )


LIVE_STATUSES = {"trialing", "active", "past_due", "unpaid"}


def _stripe_guard(func: Any) -> Any:
    """Stripe refusals become a ``BillingError`` the merchant reads (a 4xx page), never a 500."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except gateway.CardError as exc:
            raise BillingError(exc.user_message or _("Your card was declined."), code="card_declined") from exc
        except gateway.StripeError as exc:
            log.warning("stripe refused %s: %s", func.__name__, exc)
            raise BillingError(
                getattr(exc, "user_message", None) or _("Stripe could not complete this just now. Please try again."),
                code="stripe_error",
            ) from exc

    return wrapper


@contextmanager
def _one_at_a_time(account: BillingAccount) -> Iterator[None]:
    """Serialise billing actions of one shop across processes (held over Stripe calls:
    an advisory lock, not a row lock, so nothing else waits on it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_BILLING_LOCK, account.pk])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_BILLING_LOCK, account.pk])


def _live_subscription_in_stripe(account: BillingAccount) -> dict[str, Any] | None:
    if not account.stripe_customer_id:
        return None
    found = gateway.v1().subscriptions.list(params={"customer": account.stripe_customer_id})
    return next((_d(sub) for sub in found.data if sub.status in LIVE_STATUSES), None)


@_stripe_guard
def subscribe(tenant: Tenant, plan_key: str, payment_method_id: str) -> BillingAccount:
    account = account_for(tenant)
    target = resolve_plan(account, plan_key)
    check_plan_allowed(account, target)
    with _one_at_a_time(account):
        account.refresh_from_db()
        _ensure_customer(account)
        live = _live_subscription_in_stripe(account)
        if live is not None:
            # Already subscribed (another tab, a Checkout): adopt it, create nothing.
            with transaction.atomic():
                locked = _locked(account)
                _sync_subscription(locked, live)
                locked.save()
            raise BillingError(
                _("You already have a subscription; change its plan instead."), code="already_subscribed"
            )
        _ensure_stripe_plan(account, target)
        _use_payment_method(account, payment_method_id)
        BillingAccount.objects.filter(pk=account.pk).update(
            card_brand=account.card_brand, card_last4=account.card_last4
        )
        params: dict[str, Any] = {
            "customer": account.stripe_customer_id,
            "items": [{"plan": target.stripe_id}],
            "metadata": {"tenant_id": str(tenant.pk), "plan_key": target.key},
        }
        if account.trial_ends_at and account.trial_ends_at > timezone.now() + timedelta(hours=1):
            params["trial_end"] = int(account.trial_ends_at.timestamp())
        else:
            # Charged now: a declined card refuses the subscription instead of leaving it incomplete.
            params["payment_behavior"] = "error_if_incomplete"
        attempt = int(time.time() // 600)  # a retry within ten minutes is the same request
        subscription = _d(
            gateway.v1().subscriptions.create(
                params=params,
                options={
                    "idempotency_key": f"fenxiao-sub-{account.pk}-{target.stripe_id}-{payment_method_id}-{attempt}"
                },
            )
        )
        if subscription["status"] == "incomplete" and "trial_end" not in params:
            # The first charge did not go through (declined, or the bank wants authentication):
            # leave no half-made subscription behind.
            gateway.v1().subscriptions.cancel(subscription["id"])
            raise BillingError(_("Your card was declined. Try another card."), code="card_declined")
        with transaction.atomic():
            locked = _locked(account)
            locked.provider = BillingAccount.Provider.STRIPE
            locked.plan_key = target.key
            locked.requested_plan_key = ""
            _sync_subscription(locked, subscription)
            locked.save()
    return locked


def _tier_rank(tier: str) -> int:
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


@_stripe_guard
def change_plan(tenant: Tenant, plan_key: str) -> BillingAccount:
    """Upgrade or downgrade, prorated by Stripe; refused when the shop exceeds the target's
    limits. Offline (operator-managed) billing applies downgrades at once; an upgrade is a
    request the operator fulfils when recording the payment."""
    account = account_for(tenant)
    target = resolve_plan(account, plan_key)
    if target.key == account.plan_key and target.stripe_id == (account.stripe_plan_id or target.stripe_id):
        return account
    check_plan_allowed(account, target)
    if account.provider == BillingAccount.Provider.OFFLINE or not account.stripe_subscription_id:
        if account.provider == BillingAccount.Provider.STRIPE and not has_access(account):
            raise BillingError(_("Subscribe first."), code="no_subscription")
        with transaction.atomic():
            locked = _locked(account)
            current = resolve_plan(locked, locked.plan_key).tier if locked.plan_key else locked.tenant.tier
            upgrade = _tier_rank(target.tier) > _tier_rank(current)
            if locked.provider == BillingAccount.Provider.OFFLINE and upgrade and locked.status != "trial":
                locked.requested_plan_key = target.key
                record_operator_action(
                    None, "billing.plan_requested", locked.tenant, {"plan": locked.plan_key}, {"requested": target.key}
                )
            else:
                locked.plan_key = target.key
                locked.requested_plan_key = ""
                _apply_plan_tier(locked, f"plan changed to {target.key}")
            locked.save()
        return locked
    with _one_at_a_time(account):
        _ensure_stripe_plan(account, target)
        gateway.v1().subscription_items.update(
            account.stripe_subscription_item_id,
            params={"plan": target.stripe_id, "proration_behavior": "create_prorations"},
        )
        subscription = _d(gateway.v1().subscriptions.retrieve(account.stripe_subscription_id))
        with transaction.atomic():
            locked = _locked(account)
            locked.plan_key = target.key
            _sync_subscription(locked, subscription)
            locked.save()
    return locked


@_stripe_guard
def set_cancel_at_period_end(tenant: Tenant, cancel: bool) -> BillingAccount:
    account = account_for(tenant)
    if not account.stripe_subscription_id or account.status not in LIVE_STATUSES:
        raise BillingError(_("There is no subscription to cancel."), code="no_subscription")
    subscription = _d(
        gateway.v1().subscriptions.update(account.stripe_subscription_id, params={"cancel_at_period_end": cancel})
    )
    with transaction.atomic():
        locked = _locked(account)
        _sync_subscription(locked, subscription)
        locked.save()
    return locked


@_stripe_guard
def update_payment_method(tenant: Tenant, payment_method_id: str) -> BillingAccount:
    """Use a new card from now on, and retry what is overdue with it."""
    account = account_for(tenant)
    _ensure_customer(account)
    _use_payment_method(account, payment_method_id)
    BillingAccount.objects.filter(pk=account.pk).update(card_brand=account.card_brand, card_last4=account.card_last4)
    v1 = gateway.v1()
    if account.stripe_subscription_id:
        # The subscription charges the customer's default card (set above): retry what is open.
        open_invoices = [
            i for i in v1.invoices.list(params={"customer": account.stripe_customer_id}).data if i.status == "open"
        ]
        for invoice in open_invoices:
            paid = _d(v1.invoices.pay(invoice.id))
            with transaction.atomic():
                record_invoice(_locked(account), paid)
    subscription = (
        _d(v1.subscriptions.retrieve(account.stripe_subscription_id)) if account.stripe_subscription_id else None
    )
    with transaction.atomic():
        locked = _locked(account)
        if subscription is not None:
            _sync_subscription(locked, subscription)
        locked.save()
    return locked


@_stripe_guard
def portal_url(tenant: Tenant, return_url: str) -> str:
    account = account_for(tenant)
    customer = _ensure_customer(account)
    try:
        session = gateway.v1().billing_portal.sessions.create(params={"customer": customer, "return_url": return_url})
    except gateway.StripeError as exc:
        log.warning("customer portal unavailable: %s", exc)
        raise BillingError(
            _("The Stripe customer portal is not available right now; manage your plan here."),
            code="portal_unavailable",
        ) from exc
    return str(session.url)


@_stripe_guard
def checkout_url(tenant: Tenant, plan_key: str, success_url: str, cancel_url: str) -> str:
    """Subscribe through Stripe Checkout instead of the embedded card form."""
    account = account_for(tenant)
    target = resolve_plan(account, plan_key)
    check_plan_allowed(account, target)
    if account.stripe_subscription_id and account.status in LIVE_STATUSES:
        raise BillingError(_("You already have a subscription; change its plan instead."), code="already_subscribed")
    customer = _ensure_customer(account)
    _ensure_stripe_plan(account, target)
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(tenant.pk),
        "line_items": [{"price": target.stripe_id, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": {"tenant_id": str(tenant.pk), "plan_key": target.key},
    }
    if account.trial_ends_at and account.trial_ends_at > timezone.now() + timedelta(hours=1):
        params["subscription_data"] = {"trial_end": int(account.trial_ends_at.timestamp())}
    try:
        session = gateway.v1().checkout.sessions.create(params=params)
    except gateway.StripeError as exc:
        log.warning("checkout unavailable: %s", exc)
        raise BillingError(
            getattr(exc, "user_message", None) or _("Stripe Checkout could not be opened. Try the card form."),
            code="checkout_unavailable",
        ) from exc
    return str(session.url)


def _adoptable(account: BillingAccount, subscription: dict[str, Any]) -> bool:
    """Whether ``subscription`` is (or may become) the shop's subscription: its current one;
    any when it has none; a live one when the current one is over. A stale event about an
    old, ended subscription never replaces a live one."""
    if not account.stripe_subscription_id or subscription["id"] == account.stripe_subscription_id:
        return True
    return subscription["status"] in LIVE_STATUSES and account.status not in LIVE_STATUSES


def _sync_subscription(account: BillingAccount, subscription: dict[str, Any]) -> None:
    """Copy Stripe's current state of the subscription onto the (locked) account."""
    now = timezone.now()
    account.stripe_subscription_id = subscription["id"]
    status = str(subscription["status"])
    if status in BillingAccount.Status.values:
        account.status = status
    items = (subscription.get("items") or {}).get("data") or []
    if items:
        item = items[0]
        account.stripe_subscription_item_id = item["id"]
        stripe_plan = item.get("plan") or item.get("price")
        if stripe_plan:
            account.stripe_plan_id = stripe_plan["id"]
            found = _plan_of_stripe_id(account, stripe_plan["id"])
            if found:
                account.plan_key = found.key
        period_end = item.get("current_period_end") or subscription.get("current_period_end")
        account.current_period_end = _ts(period_end) or account.current_period_end
    account.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    trial_end = _ts(subscription.get("trial_end"))
    if trial_end and trial_end > now:
        account.trial_ends_at = trial_end
    in_trial = bool(account.trial_ends_at and account.trial_ends_at > now)
    if status in ACCESS_STATUSES or (in_trial and status == "incomplete"):
        # (a subscription created during the platform's trial owes nothing before it ends)
        _settle(account, reason="billing: subscription active")
        _apply_plan_tier(account, f"billing: {account.plan_key}")
    elif status in OVERDUE_STATUSES:
        _set_overdue(account, now)
        if status != "canceled":
            _apply_plan_tier(account, f"billing: {account.plan_key}")


def record_invoice(account: BillingAccount, invoice: dict[str, Any]) -> Invoice:
    status = str(invoice["status"])
    lines = (invoice.get("lines") or {}).get("data") or []
    period = lines[0].get("period") if lines else None
    values = {
        "account": account,
        "provider": BillingAccount.Provider.STRIPE,
        "number": invoice.get("number") or "",
        "status": status if status in Invoice.Status.values else Invoice.Status.OPEN,
        "currency": str(invoice.get("currency") or settings.BILLING_CURRENCY)[:3],
        "amount_due": int(invoice.get("amount_due") or 0),
        "amount_paid": int(invoice.get("amount_paid") or 0),
        "hosted_invoice_url": invoice.get("hosted_invoice_url") or "",
        "invoice_pdf": invoice.get("invoice_pdf") or "",
        "period_start": _ts(period.get("start")) if period else None,
        "period_end": _ts(period.get("end")) if period else None,
    }
    record, _created = Invoice.objects.update_or_create(external_id=invoice["id"], defaults=values)
    if status == "paid" and record.paid_at is None:
        record.paid_at = timezone.now()
        record.save(update_fields=["paid_at"])
    return record


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The invoice's subscription: ``parent.subscription_details`` in current API versions,
    the top-level ``subscription`` in older ones."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription") or invoice.get("subscription")


def mrr_by_tier() -> dict[str, int]:
    """Monthly recurring revenue (minor units) of paying shops, per tier."""
    totals = dict.fromkeys(TIERS, 0)
    for account in BillingAccount.objects.filter(status__in=["active", "past_due"]).select_related("tenant"):
        if not account.plan_key:
            continue
        try:
            found = resolve_plan(account, account.plan_key)
        except BillingError:
            continue
        totals[found.tier] += found.monthly_amount
    return totals
