"""Mails to a shop's owner about billing (sent after the transaction commits)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from billing.models import BillingAccount


def notify_merchant(account: BillingAccount, subject: str, body: str) -> None:
    """Mail the shop's owner once the current transaction commits (never for a rollback)."""
    recipient = account.tenant.owner_email
    if not recipient:
        return
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient], fail_silently=True), robust=True
    )


def email(account: BillingAccount, kind: str, **params: Any) -> None:
    with translation.override(account.tenant.locale or settings.LANGUAGE_CODE):
        name = account.tenant.name
        texts = {
            "payment_failed": (
                _("Payment failed for %(shop)s") % {"shop": name},
                _(
                    "We could not charge your card for %(shop)s. Update your payment method in the merchant "
                    "console within %(days)s days to keep your shop open."
                )
                % {"shop": name, "days": settings.BILLING_GRACE_DAYS},
            ),
            "receipt": (
                _("Receipt for %(shop)s") % {"shop": name},
                _("Thank you: we received %(amount)s for %(shop)s.")
                % {"amount": params.get("amount", ""), "shop": name},
            ),
            "trial_ending": (
                _("Your trial of %(shop)s ends soon") % {"shop": name},
                _("Your free trial ends on %(date)s. Choose a plan in the merchant console to keep selling.")
                % {"date": params.get("date", "")},
            ),
            "suspended": (
                _("%(shop)s is suspended for non-payment") % {"shop": name},
                _(
                    "Your storefront is closed until the overdue payment is made. Nothing has been deleted: pay in "
                    "the merchant console and your shop reopens at once."
                ),
            ),
        }
        subject, body = texts[kind]
    notify_merchant(account, subject, body)
