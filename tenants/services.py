"""Every write to shops goes through here, each in one transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, ProgrammingError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context

from platform_core.audit import record_operator_action
from platform_core.features import forget_overrides, validate_override
from platform_core.models import FeatureOverride
from platform_core.tasks import publish_in_background
from tenants.models import Domain, Tenant
from tenants.schemas import replay_schema, schema_for_slug, take_pooled_schema
from tenants.signals import shop_created

log = logging.getLogger(__name__)
HANDOFF_SALT = "fenxiao.signup-handoff"
HANDOFF_MAX_AGE = 300
DUPLICATE_SCHEMA = "42P06"  # a concurrent signup created the same shop schema first
# The pool is topped up after the signup, never inside it, and a moment later, so the
# refill's DDL does not compete with the new merchant's first requests (hand-off, console).
POOL_REFILL_DELAY = 1.0


@dataclass
class SignupResult:
    tenant: Tenant
    owner: Any
    source: str  # "pool" or "replay"; "repeat" for the same signup submitted again
    seconds: float  # the provisioning transaction: schema, shop, host, owner
    hash_seconds: float = 0.0  # the owner's password hash, before it


def shop_host(tenant: Tenant) -> str:
    return f"{tenant.slug}.{settings.PLATFORM_DOMAIN}"


def shop_url(tenant: Tenant, path: str = "/") -> str:
    port = settings.PLATFORM_URL_PORT
    default = {"http": "80", "https": "443"}.get(settings.PLATFORM_URL_SCHEME)
    netloc = shop_host(tenant) + (f":{port}" if port and port != default else "")
    return f"{settings.PLATFORM_URL_SCHEME}://{netloc}{path}"


def shop_signup(*, name: str, slug: str, email: str, password: str, tier: str, locale: str = "") -> SignupResult:
    """Create a live shop with its owner. Input must be validated (tenants.validation);
    races on slug or email still end as a field error, never a half-made shop."""
    schema = schema_for_slug(slug)
    # Hash first (deliberately slow, ~60 ms) so the transaction holding the pool row is short.
    hashing = time.perf_counter()
    password_hash = make_password(password)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            source = "pool" if take_pooled_schema(schema) else "replay"
            if source == "replay":
                replay_schema(schema)
            tenant = Tenant(
                schema_name=schema,
                name=name,
                slug=slug,
                tier=tier,
                owner_email=email,
                locale=locale or settings.LANGUAGE_CODE,
            )
            tenant.save()
            Domain.objects.create(domain=shop_host(tenant), tenant=tenant, is_primary=True)
            with schema_context(schema):
                owner = get_user_model().objects.create(
                    email=email, password=password_hash, is_staff=True, is_owner=True, name=name
                )
            shop_created.send(sender=Tenant, tenant=tenant)
    except (IntegrityError, ProgrammingError) as exc:
        field = _clashing_field(exc)
        if field == "slug":
            raise ValidationError(
                {"slug": [ValidationError(_("“%(slug)s” is already taken.") % {"slug": slug}, code="taken")]}
            ) from exc
        if field == "email":
            message = _("A shop is already registered with this email. Log in instead.")
            raise ValidationError({"email": [ValidationError(message, code="taken")]}) from exc
        raise
    seconds = time.perf_counter() - started
    from tenants.tasks import refill_schema_pool

    publish_in_background(refill_schema_pool, countdown=POOL_REFILL_DELAY)
    log.info("shop %s created from %s in %.1f ms", slug, source, seconds * 1000)
    return SignupResult(tenant=tenant, owner=owner, source=source, seconds=seconds, hash_seconds=started - hashing)


def signup_repeated(*, name: str, slug: str, email: str, password: str, tier: str) -> SignupResult | None:
    """The same signup submitted again (a double click, a retried POST, the back button):
    the shop with this address was opened in the last ``HANDOFF_MAX_AGE`` seconds with this
    name, plan and owner email, and ``password`` is the owner's. Returns that shop (the
    caller answers as it did the first time: a fresh login link), or None: then the address
    really is taken. Knowing the email and password already opens the console, so this
    hands nobody more than the login page would."""
    since = timezone.now() - timedelta(seconds=HANDOFF_MAX_AGE)
    tenant = Tenant.objects.filter(
        slug__iexact=slug.strip(),
        owner_email__iexact=email.strip(),
        name=name.strip(),
        tier=tier.strip().lower() or "standard",
        status=Tenant.Status.ACTIVE,
        created_at__gte=since,
    ).first()
    if tenant is None:
        return None
    with schema_context(tenant.schema_name):
        owner = get_user_model().objects.filter(email__iexact=email.strip(), is_owner=True, is_active=True).first()
        if owner is None or not owner.check_password(password):
            return None
    log.info("shop %s: the same signup submitted again", tenant.slug)
    return SignupResult(tenant=tenant, owner=owner, source="repeat", seconds=0.0)


# Unique constraints (and PostgreSQL's own catalog index) that a concurrent signup can hit.
_CLASHES = {
    "pg_namespace_nspname_index": "slug",  # the same schema, created by the other signup
    "tenant_slug_ci_uniq": "slug",
    "tenants_tenant_schema_name_key": "slug",
    "tenants_domain_domain_key": "slug",
    "tenant_owner_email_ci_uniq": "email",
}


def _clashing_field(exc: Exception) -> str | None:
    cause = exc.__cause__
    if getattr(cause, "pgcode", None) == DUPLICATE_SCHEMA:
        return "slug"
    diag = getattr(cause, "diag", None)
    return _CLASHES.get(getattr(diag, "constraint_name", None) or "")


# --- handing the new owner over to their shop's host ---------------------------------
def platform_origins() -> set[str]:
    """The origins (scheme://host[:port]) of the platform's own pages: the platform domain
    and PLATFORM_EXTRA_HOSTS, with the configured scheme and port."""
    port = settings.PLATFORM_URL_PORT
    default = {"http": "80", "https": "443"}.get(settings.PLATFORM_URL_SCHEME)
    suffix = f":{port}" if port and port != default else ""
    hosts = [settings.PLATFORM_DOMAIN, *settings.PLATFORM_EXTRA_HOSTS]
    return {f"{settings.PLATFORM_URL_SCHEME}://{h.strip().lower()}{suffix}" for h in hosts if h.strip()}


def handoff_token(tenant: Tenant, user: Any) -> str:
    """A short-lived, single-use login link from the platform host to the shop host.

    Single use: it carries the user's last login, which logging in changes."""
    last = user.last_login.isoformat() if user.last_login else ""
    return signing.dumps({"s": tenant.schema_name, "u": user.pk, "l": last}, salt=HANDOFF_SALT, compress=True)


def handoff_peek(tenant: Tenant, token: str) -> Any | None:
    """The user a still valid token would log in on ``tenant``'s host, without using it
    (None: expired, used, forged, or minted for another shop). Call in the shop's schema."""
    try:
        data = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_MAX_AGE)
    except signing.BadSignature:
        return None
    if data.get("s") != tenant.schema_name:
        return None
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True, is_staff=True).first()
    if user is None:
        return None
    last = user.last_login.isoformat() if user.last_login else ""
    return user if last == data.get("l") else None


def handoff_user(tenant: Tenant, token: str) -> Any | None:
    """Redeem the token: the user it logs in on ``tenant``'s host, or None (expired, used,
    forged, or minted for another shop). Call in the shop's schema. Redeeming moves the
    user's last login with a conditional update, so of two concurrent uses only one wins."""
    user = handoff_peek(tenant, token)
    if user is None:
        return None
    now = timezone.now()
    users = get_user_model().objects.filter(pk=user.pk, is_active=True, is_staff=True)
    claimed = users.filter(last_login=user.last_login).update(last_login=now)
    if claimed != 1:
        return None
    user.last_login = now
    return user


# --- operator actions (each audited) --------------------------------------------------
def _locked(tenant: Tenant) -> Tenant:
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def tenant_set_status(
    tenant: Tenant, status: str, *, actor: Any, reason: str, by: str = "operator", only_from: str | None = None
) -> Tenant:
    """Change a shop's status. ``by`` says who imposes it ("operator" or "billing"; billing
    lifts only its own suspensions). ``only_from``: change only if the status, read under
    the row lock, is still that one (so billing never turns an operator's "closed" into
    "suspended")."""
    if status not in Tenant.Status.values:
        raise ValidationError({"status": _("Unknown status.")})
    if status != Tenant.Status.ACTIVE and not reason.strip():
        raise ValidationError({"reason": _("Give a reason; the merchant sees it.")})
    with transaction.atomic():
        locked = _locked(tenant)
        before = locked.snapshot()
        if locked.status == status or (only_from is not None and locked.status != only_from):
            return locked
        locked.status = status
        locked.status_reason = reason.strip() if status != Tenant.Status.ACTIVE else ""
        locked.status_by = by if status != Tenant.Status.ACTIVE else ""
        locked.save(update_fields=["status", "status_reason", "status_by"])
        action = {"active": "shop.resume", "suspended": "shop.suspend", "closed": "shop.close"}[status]
        record_operator_action(actor, action, locked, before, locked.snapshot(), reason)
    log.info("shop %s status %s -> %s", locked.slug, before["status"], status)
    return locked


def tenant_suspend(tenant: Tenant, *, actor: Any, reason: str) -> Tenant:
    return tenant_set_status(tenant, Tenant.Status.SUSPENDED, actor=actor, reason=reason)


def tenant_resume(tenant: Tenant, *, actor: Any, reason: str = "") -> Tenant:
    return tenant_set_status(tenant, Tenant.Status.ACTIVE, actor=actor, reason=reason)


def tenant_lift_billing_suspension(tenant: Tenant, *, reason: str) -> bool:
    """Reopen a shop that billing suspended (never one an operator suspended or closed)."""
    with transaction.atomic():
        locked = _locked(tenant)
        if locked.status != Tenant.Status.SUSPENDED or locked.status_by != "billing":
            return False
        tenant_set_status(locked, Tenant.Status.ACTIVE, actor=None, reason=reason)
    return True


def tenant_change_tier(tenant: Tenant, tier: str, *, actor: Any, reason: str = "") -> Tenant:
    from platform_core.features import TIERS

    if tier not in TIERS:
        raise ValidationError({"tier": _("Choose standard, pro or custom.")})
    with transaction.atomic():
        locked = _locked(tenant)
        before = locked.snapshot()
        if locked.tier == tier:
            return locked
        locked.tier = tier
        locked.save(update_fields=["tier"])
        record_operator_action(actor, "shop.change_tier", locked, before, locked.snapshot(), reason)
    return locked


def tenant_set_feature_override(tenant: Tenant, key: str, value: Any, *, actor: Any, reason: str = "") -> None:
    try:
        value = validate_override(key, value)
    except (ValueError, KeyError) as exc:
        raise ValidationError({"value": str(exc).strip("'\"")}) from exc
    with transaction.atomic():
        _locked(tenant)
        current = FeatureOverride.objects.filter(tenant=tenant, key=key).first()
        before = {key: current.value} if current else {}
        FeatureOverride.objects.update_or_create(tenant=tenant, key=key, defaults={"value": value, "reason": reason})
        record_operator_action(actor, "shop.feature_override", tenant, before, {key: value}, reason)
    forget_overrides(tenant)


def tenant_clear_feature_override(tenant: Tenant, key: str, *, actor: Any, reason: str = "") -> None:
    with transaction.atomic():
        _locked(tenant)
        current = FeatureOverride.objects.filter(tenant=tenant, key=key).first()
        if current is None:
            return
        before = {key: current.value}
        current.delete()
        record_operator_action(actor, "shop.feature_override_cleared", tenant, before, {}, reason)
    forget_overrides(tenant)


def ensure_platform() -> Tenant:
    """The public tenant and its hosts (the platform domain and PLATFORM_EXTRA_HOSTS)."""
    platform, _created = Tenant.objects.get_or_create(
        schema_name="public", defaults={"name": "Fenxiao platform", "slug": "_platform", "tier": "custom"}
    )
    for host in [settings.PLATFORM_DOMAIN, *settings.PLATFORM_EXTRA_HOSTS]:
        host = host.strip().lower()
        if host:
            Domain.objects.get_or_create(
                domain=host, defaults={"tenant": platform, "is_primary": host == settings.PLATFORM_DOMAIN}
            )
    return platform
