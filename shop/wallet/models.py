"""The member's shop balance (店铺余额): an append-only ledger of entries, and one cached
balance row per member kept equal to the sum of its entries.

Money is integer fen, signed on the entry (credits positive, spending negative). An entry's
``reference`` is unique per kind, so a retried credit (a withdrawal paid twice, a refund
sent again) never adds money twice. The cached balance only moves through a guarded SQL
update in the transaction that writes the entry, and a check constraint keeps it ≥ 0."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class WalletEntry(models.Model):
    class Kind(models.TextChoices):
        CREDIT_WITHDRAWAL = "credit_withdrawal", _("Withdrawal paid to the shop balance")
        SPEND_ORDER = "spend_order", _("Order paid from the shop balance")
        REFUND_ORDER = "refund_order", _("Order refund")
        ADJUST = "adjust", _("Adjustment")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="wallet_entries")
    amount = models.BigIntegerField(_("amount"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    reference = models.CharField(_("reference"), max_length=120)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("balance entry")
        verbose_name_plural = _("balance entries")
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="wallet_entry_reference_uniq"),
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_entry_amount_nonzero"),
        ]
        indexes = [models.Index(fields=["member", "-created_at", "-id"], name="wallet_entry_member")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.reference})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("wallet entries are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("wallet entries are immutable")


class WalletBalance(models.Model):
    """The sum of a member's entries, cached; ``wallet.verify()`` checks it."""

    member = models.OneToOneField(
        "members.Member", on_delete=models.PROTECT, primary_key=True, related_name="wallet_balance"
    )
    balance = models.BigIntegerField(_("balance"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("shop balance")
        verbose_name_plural = _("shop balances")
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"
