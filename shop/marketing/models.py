"""Marketing: coupon templates and the coupons members hold, limited-time discounts, and
full-reduction rules (满减 / 满折). Money is integer fen. Activities run from ``starts_at``
(inclusive) to ``ends_at`` (exclusive), unless ended early (``ended_at``)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        FIXED = "fixed", _("Amount off")
        PERCENT = "percent", _("Percent off")
        FREE_SHIPPING = "free_shipping", _("Free shipping")

    class Scope(models.TextChoices):
        ALL = "all", _("Whole shop")
        CATEGORIES = "categories", _("Categories")
        PRODUCTS = "products", _("Products")

    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.PositiveIntegerField(_("amount off (fen)"), default=0)
    percent_off = models.PositiveSmallIntegerField(_("percent off"), default=0)
    max_discount = models.PositiveIntegerField(_("at most (fen)"), null=True, blank=True)
    min_spend = models.PositiveIntegerField(_("minimum spend (fen)"), default=0)
    scope = models.CharField(_("applies to"), max_length=12, choices=Scope.choices, default=Scope.ALL)
    category_ids = models.JSONField(_("categories"), default=list, blank=True)
    product_ids = models.JSONField(_("products"), default=list, blank=True)
    excluded_product_ids = models.JSONField(_("excluded products"), default=list, blank=True)
    # validity: fixed dates, or N days from the moment a member gets the coupon
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveSmallIntegerField(_("valid for days after claiming"), null=True, blank=True)
    total_quantity = models.PositiveIntegerField(_("total quantity"), null=True, blank=True)  # None: unlimited
    issued = models.PositiveIntegerField(_("issued"), default=0)
    per_member_limit = models.PositiveSmallIntegerField(_("per member"), default=1)
    combines_with_activities = models.BooleanField(_("combines with activities"), default=True)
    claimable = models.BooleanField(_("in the claim centre"), default=True)
    on_registration = models.BooleanField(_("given on registration"), default=False)
    # a distributor's code: claiming the coupon with it binds the buyer to that distributor
    distributor_code = models.CharField(_("distributor code"), max_length=32, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        constraints = [
            models.CheckConstraint(
                condition=Q(total_quantity__isnull=True) | Q(issued__lte=F("total_quantity")),
                name="coupon_never_over_issued",
            ),
            models.UniqueConstraint(
                fields=["distributor_code"], condition=~Q(distributor_code=""), name="coupon_distributor_code_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CouponClaim(models.Model):
    """How many coupons of a template a member got: the per-member guard (a conditional
    update on this row, inserted as zero first)."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "member"], name="coupon_claim_uniq")]

    def __str__(self) -> str:
        return f"{self.template_id}:{self.member_id}={self.count}"


class MemberCoupon(models.Model):
    class Status(models.TextChoices):
        UNUSED = "unused", _("Unused")
        LOCKED = "locked", _("In an unpaid order")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")

    class Source(models.TextChoices):
        CLAIM = "claim", _("Claimed")
        ISSUE = "issue", _("Issued by the shop")
        REGISTRATION = "registration", _("Registration gift")
        CODE = "code", _("Distributor code")

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="coupons")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.UNUSED)
    source = models.CharField(_("source"), max_length=14, choices=Source.choices, default=Source.CLAIM)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    order = models.ForeignKey("orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    claimed_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-claimed_at", "-id"]
        indexes = [models.Index(fields=["member", "status"], name="member_coupon_by_status")]

    def __str__(self) -> str:
        return f"{self.template_id} → {self.member_id} ({self.status})"


class LimitedDiscount(models.Model):
    """限时折扣: percent off or a fixed price on products or single SKUs, for a time."""

    name = models.CharField(_("name"), max_length=60)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    per_member_limit = models.PositiveIntegerField(_("per member (units)"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("limited-time discount")
        verbose_name_plural = _("limited-time discounts")
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="discount_ends_after")]

    def __str__(self) -> str:
        return self.name


class DiscountItem(models.Model):
    discount = models.ForeignKey(LimitedDiscount, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey("catalogue.Product", on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey("catalogue.Sku", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True)  # 1–99
    price = models.PositiveIntegerField(null=True, blank=True)  # fen

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(percent_off__isnull=False) & Q(price__isnull=True))
                | (Q(percent_off__isnull=True) & Q(price__isnull=False)),
                name="discount_item_one_rule",
            )
        ]

    def __str__(self) -> str:
        return f"{self.discount_id}: {self.product_id}/{self.sku_id or '*'}"

    def unit_price(self, sku_price: int) -> int:
        if self.price is not None:
            return self.price
        return sku_price * (100 - (self.percent_off or 0)) // 100


class DiscountUse(models.Model):
    """Units an order bought at a limited-time discount's price (for the per-member limit;
    an order's uses stop counting once the order is cancelled)."""

    discount = models.ForeignKey(LimitedDiscount, on_delete=models.CASCADE, related_name="uses")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey("catalogue.Sku", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["discount", "member"], name="discount_use_by_member")]

    def __str__(self) -> str:
        return f"{self.discount_id}: {self.quantity} × {self.sku_id}"


class FullReduction(models.Model):
    """满减 (amount off) / 满折 (percent off) from a threshold, by tiers; the whole shop, or
    the listed products."""

    class Kind(models.TextChoices):
        AMOUNT = "amount", _("Amount off (满减)")
        PERCENT = "percent", _("Percent off (满折)")

    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # [{"threshold": 10000, "value": 1000}, …] value: fen off, or percent off
    tiers = models.JSONField(_("tiers"), default=list)
    product_ids = models.JSONField(_("products"), default=list, blank=True)  # empty: whole shop
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("full reduction")
        verbose_name_plural = _("full reductions")
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="reduction_ends_after")]

    def __str__(self) -> str:
        return self.name


class MarketingSettings(models.Model):
    """The shop's marketing knobs (one row)."""

    flash_pay_minutes = models.PositiveSmallIntegerField(
        _("minutes to pay a flash-sale order"),
        default=5,
        help_text=_("Unpaid flash-sale orders are released after this."),
    )

    class Meta:
        verbose_name = _("marketing settings")
        verbose_name_plural = _("marketing settings")

    def __str__(self) -> str:
        return f"flash: {self.flash_pay_minutes} min"

    @classmethod
    def current(cls) -> MarketingSettings:
        found, _created = cls.objects.get_or_create(pk=1)
        return found


class FlashSession(models.Model):
    """秒杀: a time slot in which listed SKUs sell at a flash price from an activity stock."""

    name = models.CharField(_("name"), max_length=60)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        verbose_name = _("flash sale")
        verbose_name_plural = _("flash sales")
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="flash_ends_after")]

    def __str__(self) -> str:
        return self.name


class FlashItem(models.Model):
    """One SKU of a session. ``stock`` is the activity stock (a quota of the SKU's stock set
    aside for the session); ``sold`` rises by a conditional UPDATE (``sold + n <= stock``)
    when an order takes units and falls when an unpaid order is released."""

    session = models.ForeignKey(FlashSession, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("catalogue.Sku", on_delete=models.CASCADE, related_name="+")
    price = models.PositiveIntegerField(_("flash price (fen)"))
    stock = models.PositiveIntegerField(_("activity stock"))
    sold = models.PositiveIntegerField(_("sold"), default=0)
    per_member_limit = models.PositiveIntegerField(_("per member (units)"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(sold__lte=F("stock")), name="flash_never_oversold"),
            models.UniqueConstraint(fields=["session", "sku"], name="flash_item_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.sku_id} {self.sold}/{self.stock}"

    @property
    def remaining(self) -> int:
        return max(self.stock - self.sold, 0)


class FlashUse(models.Model):
    """Units an order took from a flash item; ``released`` once an unpaid order was
    cancelled and its units went back to the session (set once, by a conditional update)."""

    item = models.ForeignKey(FlashItem, on_delete=models.CASCADE, related_name="uses")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    released = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["item", "member"], name="flash_use_by_member")]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.quantity} ({'released' if self.released else 'held'})"


class GroupDeal(models.Model):
    """拼团: SKUs at a group price; a group of ``size`` members must all pay within
    ``hours`` of the leader's payment."""

    name = models.CharField(_("name"), max_length=60)
    size = models.PositiveSmallIntegerField(_("group size"))
    hours = models.PositiveSmallIntegerField(_("hours to fill a group"))
    simulate_on_expiry = models.BooleanField(_("complete with simulated members on expiry"), default=False)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("group deal")
        verbose_name_plural = _("group deals")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="group_deal_ends_after"),
            models.CheckConstraint(condition=Q(size__gte=2), name="group_deal_size_2"),
        ]

    def __str__(self) -> str:
        return self.name


class GroupDealItem(models.Model):
    deal = models.ForeignKey(GroupDeal, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("catalogue.Sku", on_delete=models.CASCADE, related_name="+")
    price = models.PositiveIntegerField(_("group price (fen)"))

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["deal", "sku"], name="group_deal_item_uniq")]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.sku_id} at {self.price}"


class Group(models.Model):
    """One group of a deal. ``seats``: members holding a place (paid or not yet), raised by
    a conditional UPDATE (``seats < size``) so a group is never overfull; ``paid``: members
    who paid. Pending until the leader paid, then open until ``expires_at``."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the leader's payment")
        OPEN = "open", _("Open")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed (refunded)")
        CANCELLED = "cancelled", _("Cancelled")

    deal = models.ForeignKey(GroupDeal, on_delete=models.PROTECT, related_name="groups")
    leader = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    size = models.PositiveSmallIntegerField()
    seats = models.PositiveSmallIntegerField(default=1)
    paid = models.PositiveSmallIntegerField(default=0)
    simulated = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expires_at"], name="group_by_expiry")]
        constraints = [
            models.CheckConstraint(condition=Q(seats__lte=F("size")), name="group_never_overfull"),
            models.CheckConstraint(condition=Q(paid__lte=F("seats")), name="group_paid_within_seats"),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id}#{self.pk} {self.paid}/{self.size} ({self.status})"


class GroupMember(models.Model):
    class Status(models.TextChoices):
        JOINED = "joined", _("Joined, not paid yet")
        PAID = "paid", _("Paid")
        LEFT = "left", _("Left (order cancelled)")
        REFUNDED = "refunded", _("Refunded")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="+")
    is_leader = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.JOINED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], condition=~Q(status="left"), name="group_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.member_id} ({self.status})"
