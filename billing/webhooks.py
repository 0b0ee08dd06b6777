"""Stripe webhooks for platform billing: verified on the raw body, recorded once per
event id, applied by a task that reads Stripe's current state first and then commits the
effect together with ``processed_at``. Only the shop's current subscription, or a newly
live one, is ever adopted, so replays and out-of-order delivery converge."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import BillingAccount, StripeEvent
from billing.notifications import email as _email
from billing.services import (
    ACCESS_STATUSES,
    _adoptable,
    _d,
    _invoice_subscription,
    _locked,
    _set_overdue,
    _settle,
    _sync_subscription,
    _ts,
    account_for,
    log,
    money,
    record_invoice,
)
from platform_core import outbox
from platform_core import stripe_gateway as gateway
from tenants.models import Tenant


def webhook_receive(payload: bytes, signature: str) -> tuple[StripeEvent | None, bool]:
    """Verify and record an event (once per id). Returns (event, is_new); raises on a bad
    signature or a timestamp more than a few minutes away. Processing happens in a task
    the outbox publishes once the record commits (again for a retry of an event not yet
    processed)."""
    event = gateway.construct_event(payload, signature)
    with transaction.atomic():
        record, created = StripeEvent.objects.get_or_create(
            event_id=event["id"], defaults={"type": event["type"], "payload": event.to_dict()}
        )
        if created or record.processed_at is None:
            # new, or Stripe's retry of an event whose processing has not finished (its task
            # may have been lost): queued (again) through the outbox; processing is idempotent
            outbox.enqueue("billing.process_stripe_event", record.event_id)
    return record, created


def _account_of(data: dict[str, Any]) -> BillingAccount | None:
    customer = data.get("customer")
    if customer:
        found = BillingAccount.objects.filter(stripe_customer_id=customer).first()
        if found:
            return found
    tenant_id = data.get("client_reference_id") or (data.get("metadata") or {}).get("tenant_id")
    if tenant_id and str(tenant_id).isdigit():
        tenant = Tenant.objects.filter(pk=int(tenant_id)).exclude(schema_name="public").first()
        if tenant:
            account = account_for(tenant)
            if customer and not account.stripe_customer_id:
                BillingAccount.objects.filter(pk=account.pk).update(stripe_customer_id=customer)
                account.stripe_customer_id = customer
            return account
    return None


def _fetch_current_state(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the event is about, as Stripe has it now (read before any lock is taken)."""
    v1 = gateway.v1()
    state: dict[str, Any] = {}
    sub_id: str | None = None
    if kind == "checkout.session.completed":
        sub_id = data.get("subscription")
    elif kind.startswith("customer.subscription.") and kind != "customer.subscription.trial_will_end":
        sub_id = data.get("id")
    elif kind.startswith("invoice."):
        state["invoice"] = _d(v1.invoices.retrieve(data["id"]))
        sub_id = _invoice_subscription(state["invoice"])
    if sub_id:
        try:
            state["subscription"] = _d(v1.subscriptions.retrieve(sub_id))
        except gateway.InvalidRequestError as exc:
            if getattr(exc, "code", None) != "resource_missing":
                raise  # transient: the event stays unprocessed and is retried
    return state


def process_event(event_id: str) -> str:
    """Apply one recorded event exactly once: Stripe is read first, then the effect and
    ``processed_at`` commit together; mails go out after the commit."""
    record = StripeEvent.objects.get(event_id=event_id)
    if record.processed_at is not None:
        return "already processed"
    data = record.payload.get("data", {}).get("object", {})
    if _account_of(data) is None:
        state: dict[str, Any] = {}  # not one of our shops: nothing to ask Stripe
    else:
        state = _fetch_current_state(record.type, data)
    with transaction.atomic():
        record = StripeEvent.objects.select_for_update().get(event_id=event_id)
        if record.processed_at is not None:
            return "already processed"
        outcome = _apply_event(record.type, data, state)
        record.processed_at = timezone.now()
        record.outcome = outcome[:255]
        record.save(update_fields=["processed_at", "outcome"])
    return outcome


def _apply_event(kind: str, data: dict[str, Any], state: dict[str, Any]) -> str:
    account = _account_of(data)
    if account is None:
        return "ignored: no shop for this customer"
    account = _locked(account)
    subscription = state.get("subscription")
    if kind == "customer.subscription.trial_will_end":
        trial_end = _ts(data.get("trial_end"))
        _email(account, "trial_ending", date=trial_end.date() if trial_end else "")
        return "trial ending notice sent"
    outcome = "ignored: event type not handled"
    if kind == "checkout.session.completed" or kind.startswith("customer.subscription."):
        if subscription is None:
            return "ignored: subscription no longer exists"
        if not _adoptable(account, subscription):
            log.warning("shop %s: ignoring event about other subscription %s", account.tenant.slug, subscription["id"])
            return "ignored: not the shop's current subscription"
        plan_key = (data.get("metadata") or {}).get("plan_key") if kind == "checkout.session.completed" else None
        if plan_key:
            account.plan_key = plan_key
        _sync_subscription(account, subscription)
        outcome = "checkout linked" if kind == "checkout.session.completed" else f"subscription {account.status}"
    elif kind.startswith("invoice."):
        invoice = state["invoice"]
        record = record_invoice(account, invoice)
        if subscription is not None and _adoptable(account, subscription):
            _sync_subscription(account, subscription)
        if kind == "invoice.payment_failed" and invoice["status"] != "paid":
            record.payment_failed_at = record.payment_failed_at or timezone.now()
            record.save(update_fields=["payment_failed_at"])
            if subscription is None or subscription["id"] == account.stripe_subscription_id:
                _set_overdue(account, timezone.now())
            _email(account, "payment_failed")
        if kind in ("invoice.paid", "invoice.payment_succeeded") and invoice["status"] == "paid":
            if account.status in ACCESS_STATUSES:
                _settle(account, reason="billing: invoice paid")
            if record.receipt_sent_at is None:  # invoice.paid and .payment_succeeded: one receipt
                record.receipt_sent_at = timezone.now()
                record.save(update_fields=["receipt_sent_at"])
                _email(account, "receipt", amount=money(int(invoice.get("amount_paid") or 0), invoice.get("currency")))
        outcome = f"invoice {invoice['status']}"
    account.save()
    return outcome
