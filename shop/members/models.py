"""Shoppers of a shop ("members"), their API tokens and their delivery addresses.

Members are deliberately not ``accounts.User`` rows: those are the shop's console staff.
A member has no ``is_staff`` (or any other) flag that could open the merchant console, and
lives in the shop's own schema, so a member of one shop is unknown to every other shop.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Mainland China mobile numbers, or an international number written +<8-15 digits>.
PHONE_PATTERN = r"^(1[3-9][0-9]{9}|\+[0-9]{8,15})$"
POSTAL_CODE_PATTERN = r"^[0-9]{6}$"
MAX_ADDRESSES = 20


class Member(models.Model):
    phone = models.CharField(_("phone"), max_length=16, null=True, blank=True, unique=True)
    # NULL, not "", when absent: the unique indexes then allow any number of members without
    # one. Stored lowercase (a check constraint holds it); unique on lower(email).
    email = models.EmailField(_("email"), max_length=254, null=True, blank=True)  # noqa: DJ001
    password = models.CharField(_("password"), max_length=128)
    name = models.CharField(_("nickname"), max_length=50, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    last_login = models.DateTimeField(_("last login"), null=True, blank=True)

    class Meta:
        ordering = ["-date_joined", "-id"]
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            models.CheckConstraint(
                condition=Q(phone__isnull=False) | Q(email__isnull=False), name="member_phone_or_email"
            ),
            models.CheckConstraint(
                condition=Q(phone__isnull=True) | Q(phone__regex=PHONE_PATTERN), name="member_phone_format"
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=True) | (Q(email=Lower("email")) & ~Q(email="")),
                name="member_email_lowercase",
            ),
            models.UniqueConstraint(Lower("email"), name="member_email_ci_uniq"),
        ]

    def __str__(self) -> str:
        return self.display_name

    # DRF's request.user is a member on member endpoints; these keep its checks working.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.phone:
            return f"{self.phone[:3]}****{self.phone[-4:]}"
        return (self.email or "").split("@")[0]


def hash_token_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class MemberToken(models.Model):
    """An API token of a mini-program or app client. Only the sha256 of the key is stored;
    the key itself is shown once, when the token is issued."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tokens", verbose_name=_("member"))
    key_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(_("device"), max_length=64, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = _("member token")
        verbose_name_plural = _("member tokens")

    def __str__(self) -> str:
        return f"{self.member_id}:{self.name or '-'}"


class Address(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="addresses", verbose_name=_("member"))
    recipient = models.CharField(_("recipient"), max_length=30)
    phone = models.CharField(_("phone"), max_length=16)
    province = models.CharField(_("province"), max_length=30)
    city = models.CharField(_("city"), max_length=30)
    district = models.CharField(_("district"), max_length=30)
    detail = models.CharField(_("street address"), max_length=120)
    postal_code = models.CharField(_("postal code"), max_length=6, blank=True)
    is_default = models.BooleanField(_("default address"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "-created_at", "-id"]
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(is_default=True), name="address_one_default_per_member"
            ),
            models.CheckConstraint(condition=Q(phone__regex=PHONE_PATTERN), name="address_phone_format"),
            models.CheckConstraint(
                condition=Q(postal_code="") | Q(postal_code__regex=POSTAL_CODE_PATTERN),
                name="address_postal_code_format",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} {self.one_line}"

    @property
    def one_line(self) -> str:
        return f"{self.province} {self.city} {self.district} {self.detail}"
