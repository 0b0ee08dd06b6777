"""Signup input rules, shared by the web form and the JSON API."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from platform_core.features import TIERS
from tenants.models import Tenant

SLUG_MIN, SLUG_MAX = 3, 30
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
RESERVED_SLUGS = frozenset(
    """
    www api admin static media public platform operator console app apps assets cdn
    mail email smtp imap pop ftp ns ns1 ns2 dns help support status docs doc blog
    billing pay payment payments checkout account accounts login logout signup register
    auth oauth sso dashboard shop shops store stores mall test demo-admin root system
    template templates pool dev staging prod production internal health healthz readyz
    """.split()
)
RESERVED_PREFIXES = ("pg-", "pg_", "xn--", "pool-", "tpl-")


def clean_slug(raw: str) -> str:
    slug = (raw or "").strip().lower()
    if not slug:
        raise ValidationError(_("Choose an address for your shop."), code="required")
    if len(slug) < SLUG_MIN or len(slug) > SLUG_MAX:
        raise ValidationError(
            _("Use %(min)s to %(max)s characters.") % {"min": SLUG_MIN, "max": SLUG_MAX}, code="length"
        )
    if not SLUG_RE.match(slug):
        raise ValidationError(
            _("Use lowercase letters, digits and single hyphens; start and end with a letter or digit."),
            code="invalid_characters",
        )
    if slug in RESERVED_SLUGS or slug.startswith(RESERVED_PREFIXES):
        raise ValidationError(_("“%(slug)s” is reserved. Choose another address.") % {"slug": slug}, code="reserved")
    if Tenant.objects.filter(slug__iexact=slug).exists():
        raise ValidationError(_("“%(slug)s” is already taken.") % {"slug": slug}, code="taken")
    return slug


def clean_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if not email:
        raise ValidationError(_("Enter your email address."), code="required")
    validate_email(email)
    if Tenant.objects.filter(owner_email__iexact=email).exists():
        raise ValidationError(_("A shop is already registered with this email. Log in instead."), code="taken")
    return email


def clean_name(raw: str) -> str:
    name = (raw or "").strip()
    if not name:
        raise ValidationError(_("Enter your shop's name."), code="required")
    if len(name) > 100:
        raise ValidationError(_("Use at most 100 characters."), code="length")
    return name


def clean_tier(raw: str) -> str:
    tier = (raw or "standard").strip().lower()
    if tier not in TIERS:
        raise ValidationError(_("Choose standard, pro or custom."), code="invalid_choice")
    return tier


def clean_signup(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """Validate every field; return (cleaned, errors) with all field errors at once."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[dict[str, str]]] = {}
    for field, cleaner in (("name", clean_name), ("slug", clean_slug), ("email", clean_email), ("tier", clean_tier)):
        try:
            cleaned[field] = cleaner(str(data.get(field) or ""))
        except ValidationError as exc:
            errors[field] = [
                {"code": e.code or "invalid", "message": str(e.message % (e.params or {}))} for e in exc.error_list
            ]
    password = str(data.get("password") or "")
    try:
        if not password:
            raise ValidationError(_("Choose a password."), code="required")
        # an unsaved user lets the similarity validator compare with the email and name
        candidate = get_user_model()(
            email=cleaned.get("email", str(data.get("email") or "")), name=cleaned.get("name", "")
        )
        password_validation.validate_password(password, user=candidate)
        cleaned["password"] = password
    except ValidationError as exc:
        errors["password"] = [
            {"code": e.code or "invalid", "message": str(e.message % (e.params or {}))} for e in exc.error_list
        ]
    return cleaned, errors
