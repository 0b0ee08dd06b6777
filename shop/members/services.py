"""Every write of the members domain, each in one transaction.

Bad input raises ``django.core.exceptions.ValidationError`` with a dict of field → messages
(``__all__`` for errors of the whole request); nothing is written when it is raised.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any, cast

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from shop.members.auth import SESSION_HASH_KEY, SESSION_KEY, forget_member, remember_member, session_hash
from shop.members.models import (
    MAX_ADDRESSES,
    PHONE_PATTERN,
    POSTAL_CODE_PATTERN,
    Address,
    Member,
    MemberToken,
    hash_token_key,
)
from shop.members.signals import member_logged_in

Errors = dict[str, list[str]]

_PHONE_RE = re.compile(PHONE_PATTERN, re.ASCII)
_POSTAL_RE = re.compile(POSTAL_CODE_PATTERN, re.ASCII)
_CN_MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$", re.ASCII)
_PHONE_NOISE = re.compile(r"[\s\-()]")
NAME_MAX = 50
TOKEN_NAME_MAX = 64
ADDRESS_LIMITS = {"recipient": 30, "province": 30, "city": 30, "district": 30, "detail": 120}
ADDRESS_FIELDS = ("recipient", "phone", "province", "city", "district", "detail", "postal_code")
ADDRESS_REQUIRED = ("recipient", "phone", "province", "city", "district", "detail")


# --- normalisation and validation ---------------------------------------------------------


def normalize_phone(value: str | None) -> str:
    """Full-width digits to ASCII, spaces, dashes and brackets dropped, and ``+86`` in front
    of a mainland mobile number removed, so one number has one spelling."""
    phone = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", value or ""))
    if phone.startswith("0086"):
        phone = "+86" + phone[4:]
    if phone.startswith("+86") and _CN_MOBILE_RE.match(phone[3:]):
        phone = phone[3:]
    return phone


def normalize_email(value: str | None) -> str:
    return unicodedata.normalize("NFKC", value or "").strip().lower()


def phone_errors(phone: str) -> list[str]:
    if not _PHONE_RE.match(phone):
        return [_("Enter a valid mobile number (11 digits, or + and the country code for other countries).")]
    return []


def email_errors(email: str) -> list[str]:
    try:
        validate_email(email)
    except ValidationError:
        return [_("Enter a valid email address.")]
    if len(email) > 254:
        return [_("Use at most 254 characters.")]
    return []


def _too_long(limit: int) -> str:
    return _("Use at most %(n)d characters.") % {"n": limit}


def _password_errors(password: str, member: Member) -> list[str]:
    if not password:
        return [_("Choose a password.")]
    try:
        # The validators read attributes (email, name) off ``user``: a Member serves.
        password_validation.validate_password(password, user=cast(Any, member))
    except ValidationError as exc:
        return list(exc.messages)
    return []


def _taken_errors(exc: IntegrityError) -> Errors:
    constraint = str(getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or "")
    if not constraint.endswith(("_key", "_uniq")):
        raise exc
    if "email" in constraint:
        return {"email": [_("This email address is already registered in this shop.")]}
    if "phone" in constraint:
        return {"phone": [_("This phone number is already registered in this shop.")]}
    raise exc


def _identity_errors(phone: str, email: str, exclude_pk: int | None = None) -> Errors:
    errors: Errors = {}
    if not phone and not email:
        message = _("Enter a phone number or an email address.")
        return {"phone": [message], "email": [message]}
    others = Member.objects.exclude(pk=exclude_pk) if exclude_pk else Member.objects.all()
    if phone:
        errors["phone"] = phone_errors(phone)
        if not errors["phone"] and others.filter(phone=phone).exists():
            errors["phone"] = [_("This phone number is already registered in this shop.")]
    if email:
        errors["email"] = email_errors(email)
        if not errors["email"] and others.filter(email=email).exists():  # stored lowercase
            errors["email"] = [_("This email address is already registered in this shop.")]
    return {k: v for k, v in errors.items() if v}


# --- members ------------------------------------------------------------------------------


def member_register(*, password: str, phone: str = "", email: str = "", name: str = "") -> Member:
    """Open a member account with a phone number or an email address (or both)."""
    phone, email, name = normalize_phone(phone), normalize_email(email), (name or "").strip()
    errors = _identity_errors(phone, email)
    if len(name) > NAME_MAX:
        errors["name"] = [_too_long(NAME_MAX)]
    member = Member(phone=phone or None, email=email or None, name=name)
    if password_problems := _password_errors(password or "", member):
        errors["password"] = password_problems
    if errors:
        raise ValidationError(errors)
    member.password = make_password(password)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:  # a concurrent registration took the phone or email
        raise ValidationError(_taken_errors(exc)) from exc
    return member


def member_authenticate(login: str, password: str) -> Member:
    """The member whose phone or email is ``login`` and whose password is ``password``."""
    login = (login or "").strip()
    errors: Errors = {}
    if not login:
        errors["login"] = [_("Enter your phone number or email address.")]
    if not password:
        errors["password"] = [_("Enter your password.")]
    if errors:
        raise ValidationError(errors)
    if "@" in login:
        member = Member.objects.filter(email=normalize_email(login)).first()
    else:
        member = Member.objects.filter(phone=normalize_phone(login)).first()
    if member is None:
        make_password(password)  # spend the same time as a real check
        raise ValidationError({NON_FIELD_ERRORS: [_("The phone number, email address or password is wrong.")]})

    def upgrade(raw: str) -> None:  # the hasher changed since the password was set
        member.password = make_password(raw)
        Member.objects.filter(pk=member.pk).update(password=member.password)

    if not check_password(password, member.password, setter=upgrade):
        raise ValidationError({NON_FIELD_ERRORS: [_("The phone number, email address or password is wrong.")]})
    if not member.is_active:
        raise ValidationError({NON_FIELD_ERRORS: [_("This account has been disabled. Please contact the shop.")]})
    return member


def _record_login(member: Member) -> None:
    member.last_login = timezone.now()
    Member.objects.filter(pk=member.pk).update(last_login=member.last_login)


def member_login(request: HttpRequest, member: Member) -> None:
    """Log ``member`` in to the storefront session (a new session key: no fixation)."""
    with transaction.atomic():
        _record_login(member)
    request.session.cycle_key()
    remember_member(request, member)
    member_logged_in.send(sender=Member, request=request, member=member)


def member_logout(request: HttpRequest) -> None:
    """End the member's storefront session (a console login in the same browser stays)."""
    if SESSION_KEY in request.session or SESSION_HASH_KEY in request.session:
        forget_member(request)
        request.session.cycle_key()


def token_issue(member: Member, *, name: str = "") -> tuple[MemberToken, str]:
    """A new API token of ``member``; the raw key is returned here, once, and only its
    sha256 is stored."""
    name = (name or "").strip()
    if len(name) > TOKEN_NAME_MAX:
        raise ValidationError({"device": [_too_long(TOKEN_NAME_MAX)]})
    key = secrets.token_hex(20)  # 40 characters
    with transaction.atomic():
        token = MemberToken.objects.create(member=member, key_hash=hash_token_key(key), name=name)
    return token, key


def member_token_login(request: HttpRequest, member: Member, *, device: str = "") -> tuple[MemberToken, str]:
    """Log ``member`` in for an API client: issue a token, record the login, tell listeners."""
    with transaction.atomic():
        token, key = token_issue(member, name=device)
        _record_login(member)
    member_logged_in.send(sender=Member, request=request, member=member)
    return token, key


def token_revoke(token: MemberToken) -> None:
    with transaction.atomic():
        MemberToken.objects.filter(pk=token.pk).delete()


def member_update_profile(member: Member, *, current_password: str = "", **changes: Any) -> Member:
    """Change the nickname, phone or email. Changing the phone or email (what one logs in
    with) asks for the current password."""
    unknown = set(changes) - {"name", "phone", "email"}
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    errors: Errors = {}
    name = (changes["name"] or "").strip() if "name" in changes else member.name
    phone = normalize_phone(changes["phone"]) if "phone" in changes else (member.phone or "")
    email = normalize_email(changes["email"]) if "email" in changes else (member.email or "")
    if len(name) > NAME_MAX:
        errors["name"] = [_too_long(NAME_MAX)]
    identity_changed = phone != (member.phone or "") or email != (member.email or "")
    if identity_changed:
        errors.update(_identity_errors(phone, email, exclude_pk=member.pk))
        if not current_password:
            errors["current_password"] = [_("Enter your current password to change your phone or email.")]
        elif not check_password(current_password, member.password):
            errors["current_password"] = [_("Your current password is wrong.")]
    if errors:
        raise ValidationError(errors)
    member.name, member.phone, member.email = name, phone or None, email or None
    try:
        with transaction.atomic():
            member.save(update_fields=["name", "phone", "email"])
    except IntegrityError as exc:
        member.refresh_from_db()
        raise ValidationError(_taken_errors(exc)) from exc
    return member


def member_change_password(
    member: Member,
    *,
    old_password: str,
    new_password: str,
    request: HttpRequest | None = None,
    keep_token: MemberToken | None = None,
) -> Member:
    """Set a new password. Every API token except ``keep_token`` is revoked and every other
    web session ends; ``request``'s own session stays logged in."""
    errors: Errors = {}
    if not old_password or not check_password(old_password, member.password):
        errors["old_password"] = [_("Your current password is wrong.")]
    if problems := _password_errors(new_password or "", member):
        errors["new_password"] = problems
    if errors:
        raise ValidationError(errors)
    member.password = make_password(new_password)
    with transaction.atomic():
        member.save(update_fields=["password"])
        tokens = MemberToken.objects.filter(member=member)
        if keep_token is not None:
            tokens = tokens.exclude(pk=keep_token.pk)
        tokens.delete()
    if request is not None and request.session.get(SESSION_KEY) == member.pk:
        request.session.cycle_key()
        request.session[SESSION_HASH_KEY] = session_hash(member)
    return member


def member_set_active(member: Member, active: bool) -> Member:
    """Disable or re-enable a member (the merchant console's members page calls this)."""
    with transaction.atomic():
        member.is_active = active
        member.save(update_fields=["is_active"])
        if not active:
            MemberToken.objects.filter(member=member).delete()
    return member


# --- addresses ----------------------------------------------------------------------------


def _clean_address(data: dict[str, Any], *, partial: bool) -> tuple[dict[str, str], Errors]:
    unknown = set(data) - set(ADDRESS_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    cleaned: dict[str, str] = {}
    errors: Errors = {}
    for field in ADDRESS_FIELDS:
        if field not in data:
            if not partial and field in ADDRESS_REQUIRED:
                errors[field] = [_("This field is required.")]
            continue
        value = unicodedata.normalize("NFKC", str(data[field] or "")).strip()
        if field == "phone":
            value = normalize_phone(value)
        cleaned[field] = value
        if not value:
            if field in ADDRESS_REQUIRED:
                errors[field] = [_("This field is required.")]
        elif field == "phone":
            if problems := phone_errors(value):
                errors[field] = problems
        elif field == "postal_code":
            if not _POSTAL_RE.match(value):
                errors[field] = [_("Enter a 6-digit postal code, or leave it empty.")]
        elif len(value) > ADDRESS_LIMITS[field]:
            errors[field] = [_too_long(ADDRESS_LIMITS[field])]
    return cleaned, errors


def _lock_member(member: Member) -> None:
    """Serialise the address writes of one member (the cap and the default switch)."""
    list(Member.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True))


def _lock_address(address: Address) -> None:
    """Lock the member, then make sure the address was not deleted meanwhile (a plain
    save() would insert it again)."""
    _lock_member(address.member)
    if not Address.objects.filter(pk=address.pk, member_id=address.member_id).exists():
        raise Http404("no such address")


def _make_default(member: Member, address: Address) -> None:
    # Unset first: the partial unique index allows one default per member at any moment.
    Address.objects.filter(member=member, is_default=True).exclude(pk=address.pk).update(is_default=False)
    address.is_default = True


def address_create(member: Member, *, is_default: bool = False, **data: Any) -> Address:
    """Add an address. A member's first address becomes the default."""
    cleaned, errors = _clean_address(data, partial=False)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _lock_member(member)
        count = Address.objects.filter(member=member).count()
        if count >= MAX_ADDRESSES:
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: [
                        _("You can keep at most %(n)d addresses. Delete one before adding another.")
                        % {"n": MAX_ADDRESSES}
                    ]
                }
            )
        address = Address(member=member, **cleaned)
        if is_default or count == 0:
            _make_default(member, address)
        address.save()
    return address


def address_update(address: Address, *, is_default: bool | None = None, **data: Any) -> Address:
    """Change the given fields of an address; ``is_default=True`` makes it the default,
    ``False`` leaves the member without a default."""
    cleaned, errors = _clean_address(data, partial=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _lock_address(address)
        # Work on the row as it is now (a concurrent "make default" may have changed it) and
        # write only what this update changes.
        address.refresh_from_db()
        changed = list(cleaned)
        for field, value in cleaned.items():
            setattr(address, field, value)
        if is_default:
            _make_default(address.member, address)
            changed.append("is_default")
        elif is_default is False:
            address.is_default = False
            changed.append("is_default")
        address.save(update_fields=[*changed, "updated_at"])
    return address


def address_set_default(address: Address) -> Address:
    with transaction.atomic():
        _lock_address(address)
        _make_default(address.member, address)
        address.save(update_fields=["is_default", "updated_at"])
    return address


def address_delete(address: Address) -> Address | None:
    """Delete an address. When it was the default, the most recently added remaining
    address becomes the default; that address (or None) is returned."""
    member = address.member
    with transaction.atomic():
        _lock_member(member)
        was_default = Address.objects.filter(pk=address.pk, is_default=True).exists()
        Address.objects.filter(pk=address.pk, member=member).delete()
        if not was_default:
            return None
        promoted = Address.objects.filter(member=member).order_by("-created_at", "-id").first()
        if promoted is not None:
            promoted.is_default = True
            promoted.save(update_fields=["is_default", "updated_at"])
        return promoted
