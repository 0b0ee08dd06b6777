"""The distribution engine: per-shop settings, distributors and their referral tree,
binding of buyers to distributors (with an append-only history), commission lines, the
double-entry commission ledger, and withdrawals.

Money is integer fen; rates are basis points (1% = 100 bp)."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from distribution.fields import LtreeField

BP = 10_000  # 100% in basis points


class DistributionSettings(models.Model):
    """One row per shop (``current()``): every knob of the distribution engine."""

    class Qualification(models.TextChoices):
        APPLY_REVIEW = "apply_review", _("Anyone may apply; the merchant reviews")
        ON_REGISTRATION = "on_registration", _("Automatically on registration")
        AFTER_FIRST_PAID_ORDER = "after_first_paid_order", _("Automatically after the first paid order")
        AFTER_SPENDING = "after_spending", _("Automatically after spending a threshold")
        INVITATION_ONLY = "invitation_only", _("By invitation only")

    class Trigger(models.TextChoices):
        FIRST_VISIT = "first_visit", _("On the first visit through a link")
        REGISTRATION = "registration", _("On registration")
        FIRST_ORDER = "first_order", _("On the first order")

    class Attribution(models.TextChoices):
        FIRST_TOUCH = "first_touch", _("First touch: the first distributor keeps the buyer")
        LAST_TOUCH = "last_touch", _("Last touch: the latest link wins")

    class Preview(models.TextChoices):
        NOBODY = "nobody", _("Nobody")
        DISTRIBUTORS = "distributors", _("Distributors only")
        EVERYONE = "everyone", _("Everyone")

    class Settlement(models.TextChoices):
        PER_ORDER = "per_order", _("Per order, once the hold has passed")
        MONTHLY = "monthly", _("Monthly, on a chosen day")

    enabled = models.BooleanField(_("distribution enabled"), default=False)
    qualification = models.CharField(
        _("who becomes a distributor"), max_length=30, choices=Qualification.choices, default=Qualification.APPLY_REVIEW
    )
    spending_threshold = models.PositiveIntegerField(_("spending threshold"), default=0)
    # [{"name": "wechat", "label": "微信号", "required": true}]
    application_fields = models.JSONField(_("application form fields"), default=list, blank=True)
    agreement_text = models.TextField(_("distributor agreement"), blank=True)
    binding_trigger = models.CharField(
        _("binding happens"), max_length=20, choices=Trigger.choices, default=Trigger.FIRST_VISIT
    )
    binding_days = models.PositiveIntegerField(_("binding valid for (days)"), null=True, blank=True)  # None: forever
    attribution = models.CharField(
        _("attribution"), max_length=20, choices=Attribution.choices, default=Attribution.FIRST_TOUCH
    )
    levels = models.PositiveSmallIntegerField(_("commission levels"), default=1)
    self_purchase = models.BooleanField(_("commission on own purchases"), default=False)
    rate_level1_bp = models.PositiveIntegerField(_("level 1 rate (bp)"), default=1000)
    rate_level2_bp = models.PositiveIntegerField(_("level 2 rate (bp)"), default=500)
    rate_level3_bp = models.PositiveIntegerField(_("level 3 rate (bp)"), default=0)
    # all levels of a line together earn at most this share of what the buyer paid for it
    # (fixed per-unit overrides could otherwise take it all); the excess comes off the
    # highest level first
    commission_cap_bp = models.PositiveIntegerField(_("commission cap (bp of the paid amount)"), default=10_000)
    team_dividend_enabled = models.BooleanField(_("team dividends"), default=False)
    hold_days = models.PositiveIntegerField(_("hold after the order completes (days)"), default=7)
    settlement_mode = models.CharField(
        _("settlement"), max_length=10, choices=Settlement.choices, default=Settlement.PER_ORDER
    )
    settlement_day = models.PositiveSmallIntegerField(_("monthly settlement day"), default=1)
    withdrawal_minimum = models.PositiveIntegerField(_("minimum withdrawal"), default=100)
    withdrawal_fee_bp = models.PositiveIntegerField(_("withdrawal fee (bp)"), default=0)
    withdrawal_daily_cap = models.PositiveIntegerField(_("daily withdrawal cap"), null=True, blank=True)
    withdrawal_methods = models.JSONField(_("withdrawal methods"), default=list, blank=True)
    withdrawal_review = models.BooleanField(_("withdrawals are reviewed"), default=True)
    preview_audience = models.CharField(
        _("commission preview on product pages"), max_length=12, choices=Preview.choices, default=Preview.DISTRIBUTORS
    )
    distributor_word = models.CharField(_("word for distributor"), max_length=20, blank=True)
    commission_word = models.CharField(_("word for commission"), max_length=20, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("distribution settings")
        verbose_name_plural = _("distribution settings")
        constraints = [
            models.CheckConstraint(condition=Q(levels__gte=1, levels__lte=3), name="dist_levels_cap"),
            models.CheckConstraint(condition=Q(commission_cap_bp__lte=BP), name="dist_commission_cap_within_100"),
        ]

    def __str__(self) -> str:
        return "distribution settings"

    @classmethod
    def current(cls) -> DistributionSettings:
        found = cls.objects.order_by("pk").first()
        if found is None:
            found, _created = cls.objects.get_or_create(pk=1, defaults={"withdrawal_methods": ["shop_balance"]})
        return found

    def level_rate(self, level: int) -> int:
        return int(getattr(self, f"rate_level{level}_bp"))

    @property
    def distributor_label(self) -> str:
        return self.distributor_word or str(_("distributor"))

    @property
    def commission_label(self) -> str:
        return self.commission_word or str(_("commission"))


class Grade(models.Model):
    """A distributor grade: own rates (None: the shop's default) and upgrade rules."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)  # higher is better
    rate_level1_bp = models.PositiveIntegerField(null=True, blank=True)
    rate_level2_bp = models.PositiveIntegerField(null=True, blank=True)
    rate_level3_bp = models.PositiveIntegerField(null=True, blank=True)
    min_own_sales = models.PositiveIntegerField(_("own sales at least"), default=0)
    min_team_sales = models.PositiveIntegerField(_("team sales at least"), default=0)
    min_direct_invitees = models.PositiveIntegerField(_("direct invitees at least"), default=0)
    dividend_bp = models.PositiveIntegerField(_("team dividend (bp)"), default=0)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name

    def level_rate(self, level: int) -> int | None:
        value = getattr(self, f"rate_level{level}_bp")
        return None if value is None else int(value)


class RateOverride(models.Model):
    """A rate for one category, product or SKU at one level: percent (bp) or fixed fen per unit."""

    class Scope(models.TextChoices):
        CATEGORY = "category", _("Category")
        PRODUCT = "product", _("Product")
        SKU = "sku", _("SKU")

    class Mode(models.TextChoices):
        PERCENT = "percent", _("Percent")
        FIXED = "fixed", _("Fixed amount per unit")

    scope = models.CharField(max_length=10, choices=Scope.choices)
    target_id = models.PositiveIntegerField()
    level = models.PositiveSmallIntegerField()
    mode = models.CharField(max_length=10, choices=Mode.choices)
    rate_bp = models.PositiveIntegerField(null=True, blank=True)
    amount = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["scope", "target_id", "level"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "target_id", "level"], name="dist_override_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.target_id} L{self.level}"


class Distributor(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting review")
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        BANNED = "banned", _("Banned")
        REJECTED = "rejected", _("Rejected")

    member = models.OneToOneField("members.Member", on_delete=models.PROTECT, related_name="distributor")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    grade = models.ForeignKey(Grade, on_delete=models.SET_NULL, null=True, blank=True, related_name="distributors")
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    # ids from the root down to this distributor, e.g. "3.17.42"
    path = LtreeField(null=True, blank=True)
    # What the buyers this distributor brought in paid for goods, net of refunds (the bases
    # of their level-1 commission lines): kept with those lines, in the same transaction, so
    # team sales are one index-only range scan over the team's paths.
    own_sales = models.BigIntegerField(default=0, db_default=0)
    code = models.CharField(_("invite code"), max_length=12, unique=True)
    application = models.JSONField(_("application answers"), default=dict, blank=True)
    agreement_accepted_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("merchant's note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    joined_at = models.DateTimeField(_("joined"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            GistIndex(fields=["path"], name="dist_path_gist"),
            # a team is a contiguous range of paths in btree order: counted (and its sales
            # summed) by an index-only scan
            models.Index(fields=["path"], include=["own_sales"], name="dist_path_btree"),
            models.Index(fields=["status"], name="dist_st"),
        ]

    def __str__(self) -> str:
        return f"distributor {self.pk} ({self.code})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Visit(models.Model):
    """A click on a share link, QR or poster (also a guest's: tied to a device cookie)."""

    class Source(models.TextChoices):
        LINK = "link", _("Link")
        QR = "qr", _("QR code")
        POSTER = "poster", _("Poster")

    code = models.CharField(max_length=12)
    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="visits")
    device_id = models.CharField(max_length=40, db_index=True)
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LINK)
    path = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["member", "at"], name="dist_visit_member")]

    def __str__(self) -> str:
        return f"visit {self.code} by {self.device_id}"


class BindingSource(models.TextChoices):
    LINK = "link", _("Link")
    QR = "qr", _("QR code")
    POSTER = "poster", _("Poster")
    INVITE_CODE = "invite_code", _("Invite code")
    COUPON = "coupon", _("Coupon")
    MERCHANT = "merchant", _("Merchant")


class Binding(models.Model):
    """Who owns the buyer now (one row per member); its history is ``BindingEvent``."""

    member = models.OneToOneField("members.Member", on_delete=models.CASCADE, related_name="binding")
    distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, related_name="bindings")
    source = models.CharField(max_length=12, choices=BindingSource.choices)
    since = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.member_id} → {self.distributor_id}"


class BindingEvent(models.Model):
    """Append-only history of bindings, kept for disputes."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    from_distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=12, choices=BindingSource.choices)
    evidence = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=120)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_distributor_id} → {self.to_distributor_id}"


class CommissionLine(models.Model):
    """One order line × one level: the amount and the rule that produced it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SETTLED = "settled", _("Settled")
        REVERSED = "reversed", _("Reversed")

    class RateSource(models.TextChoices):
        DEFAULT = "default", _("Shop default rate")
        CATEGORY = "category", _("Category rate")
        PRODUCT = "product", _("Product rate")
        SKU = "sku", _("SKU rate")
        GRADE = "grade", _("Grade rate")

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="+")
    distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, related_name="commission_lines")
    buyer = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField()
    self_purchase = models.BooleanField(default=False)
    rate_source = models.CharField(max_length=10, choices=RateSource.choices)
    rate_bp = models.PositiveIntegerField(null=True, blank=True)
    fixed_amount = models.PositiveIntegerField(null=True, blank=True)  # fen per unit
    quantity = models.PositiveIntegerField()
    base = models.PositiveIntegerField()  # the order line's amount_paid
    grade_name = models.CharField(max_length=40, blank=True)
    amount = models.PositiveIntegerField()
    # the shop's cap when it was computed (bp of ``base`` for all levels of the line), and
    # what the rule gave before the cap took some off (None: the cap took nothing)
    cap_bp = models.PositiveIntegerField(default=BP)
    capped_from = models.PositiveIntegerField(null=True, blank=True)
    refunded_base = models.PositiveIntegerField(default=0)  # of ``base``, refunded so far
    reversed_amount = models.PositiveIntegerField(default=0)  # taken back while pending
    clawed_back = models.PositiveIntegerField(default=0)  # taken back after settlement
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["order_line", "level"], name="dist_commission_line_level_uniq"),
            models.CheckConstraint(
                condition=Q(reversed_amount__lte=models.F("amount") - models.F("clawed_back")),
                name="dist_commission_not_over_reversed",
            ),
        ]
        indexes = [models.Index(fields=["status", "order"], name="dist_cl_status")]

    def __str__(self) -> str:
        return f"commission {self.pk}: {self.amount} to {self.distributor_id}"

    @property
    def net(self) -> int:
        return self.amount - self.reversed_amount - self.clawed_back

    def explanation(self) -> dict[str, Any]:
        return {
            "source": self.rate_source,
            "source_label": str(self.RateSource(self.rate_source).label),
            "level": self.level,
            "self_purchase": self.self_purchase,
            "base": self.base,
            "rate_bp": self.rate_bp,
            "fixed_amount": self.fixed_amount,
            "quantity": self.quantity,
            "grade": self.grade_name,
            "cap_bp": self.cap_bp,
            "capped_from": self.capped_from,
        }


class OrderCommission(models.Model):
    """An order's commission was decided (lines made, or none due): written in the same
    transaction, so a repeated event does nothing and the catch-up scan finds orders
    whose event was lost."""

    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="+")
    lines = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"commission of order {self.order_id}: {self.lines} lines"


class Account(models.TextChoices):
    # a distributor's accounts: what the shop owes them, by state (clawback debt is ≤ 0)
    PENDING = "pending", _("Pending")
    AVAILABLE = "available", _("Available")
    WITHDRAWING = "withdrawing", _("Withdrawing")
    PAID_OUT = "paid_out", _("Paid out")
    CLAWBACK_DEBT = "clawback_debt", _("Clawback debt")
    # the shop's counter-accounts
    COMMISSION_EXPENSE = "commission_expense", _("Commission expense")
    WITHDRAWAL_FEES = "withdrawal_fees", _("Withdrawal fees")


class LedgerAccount(models.Model):
    """An account; ``balance`` caches the sum of its entries (updated in the same
    transaction, checked by ``ledger.verify_balances``). ``distributor`` is NULL for the
    shop's own accounts."""

    distributor = models.ForeignKey(
        Distributor, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts"
    )
    kind = models.CharField(max_length=20, choices=Account.choices)
    balance = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["distributor", "kind"], name="dist_account_uniq"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(distributor__isnull=True), name="dist_shop_account_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.distributor_id or 'shop'}:{self.kind}"


class LedgerTransaction(models.Model):
    kind = models.CharField(max_length=20)  # accrue, reverse, settle, clawback, withdraw_*, …
    reference = models.CharField(max_length=80)
    idempotency_key = models.CharField(max_length=120, unique=True)
    commission_line = models.ForeignKey(
        CommissionLine, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.idempotency_key


class LedgerEntry(models.Model):
    """Immutable; the entries of one transaction sum to zero."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount}"


class Withdrawal(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        PAYING = "paying", _("Paying")  # a Stripe transfer asked for, its outcome not known yet
        PAID = "paid", _("Paid")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    class Method(models.TextChoices):
        SHOP_BALANCE = "shop_balance", _("Shop balance")
        BANK = "bank", _("Bank transfer")
        STRIPE_CONNECT = "stripe_connect", _("Stripe Connect")

    distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, related_name="withdrawals")
    amount = models.PositiveIntegerField()
    fee = models.PositiveIntegerField(default=0)
    method = models.CharField(max_length=20, choices=Method.choices)
    account_details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    reference = models.CharField(max_length=120, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    transfer_id = models.CharField(max_length=255, blank=True)  # Stripe Connect: the transfer
    # the merchant's decision about a clawback debt owed while it was open (the latest
    # ``WithdrawalDecision``): "" none, "reduce", "hold" or "pay_anyway", and the debt then
    debt_decision = models.CharField(max_length=12, blank=True)
    debt_decided = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # one open request per distributor at a time
            models.UniqueConstraint(
                fields=["distributor"],
                condition=Q(status="requested") | Q(status="approved") | Q(status="paying"),
                name="dist_one_open_withdrawal",
            ),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.pk}: {self.amount}"

    @property
    def net(self) -> int:
        return self.amount - self.fee


class WithdrawalDecision(models.Model):
    """Append-only: what the merchant decided about a withdrawal whose distributor owed a
    clawback debt while it was open (who, when, the debt then, why, the amounts)."""

    class Decision(models.TextChoices):
        REDUCE = "reduce", _("Reduce it by the debt")
        HOLD = "hold", _("Hold it until the debt is repaid")
        PAY_ANYWAY = "pay_anyway", _("Pay it anyway")

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=12, choices=Decision.choices)
    debt = models.PositiveIntegerField()
    amount_before = models.PositiveIntegerField()
    amount_after = models.PositiveIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=120)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.decision} on withdrawal {self.withdrawal_id} (debt {self.debt})"
