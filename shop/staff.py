"""Staff of the current shop (users of its schema with console access)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from platform_core.features import check_limit

SEAT_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':staff-seats'))"


def count_staff_seats() -> int:
    return get_user_model().objects.filter(is_staff=True, is_active=True).count()


def staff_list() -> Any:
    return get_user_model().objects.filter(is_staff=True).order_by("-is_owner", "email")


def staff_add(tenant: Any, *, email: str, name: str, password: str) -> Any:
    User = get_user_model()
    email = (email or "").strip().lower()
    errors: dict[str, list[ValidationError]] = {}
    try:
        validate_email(email)
    except ValidationError as exc:
        errors["email"] = exc.error_list
    if not errors and User.objects.filter(email__iexact=email).exists():
        errors["email"] = [ValidationError(_("This email already has an account in this shop."), code="taken")]
    if len(name or "") > 100:
        errors["name"] = [ValidationError(_("Use at most 100 characters."), code="length")]
    try:
        password_validation.validate_password(password or "", user=User(email=email, name=name))
        if not password:
            raise ValidationError(_("Choose a password."), code="required")
    except ValidationError as exc:
        errors["password"] = exc.error_list
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Serialise seat checks of this shop so two concurrent adds cannot both take the last seat.
        with connection.cursor() as cursor:
            cursor.execute(SEAT_LOCK_SQL)
        check_limit(tenant, "staff_seats")
        try:
            return User.objects.create_user(email, password, name=name or "", is_staff=True)
        except IntegrityError as exc:
            raise ValidationError({"email": [_("This email already has an account in this shop.")]}) from exc


def staff_set_active(tenant: Any, user: Any, active: bool) -> Any:
    if user.is_owner and not active:
        raise ValidationError({"is_active": [_("The shop's owner cannot be deactivated.")]})
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(SEAT_LOCK_SQL)
        if active and not user.is_active:
            check_limit(tenant, "staff_seats")
        user.is_active = active
        user.save(update_fields=["is_active"])
    return user


def staff_update(user: Any, *, name: str) -> Any:
    if len(name or "") > 100:
        raise ValidationError({"name": [_("Use at most 100 characters.")]})
    user.name = name
    user.save(update_fields=["name"])
    return user


def staff_remove(user: Any) -> None:
    if user.is_owner:
        raise ValidationError({"user": [_("The shop's owner cannot be removed.")]})
    user.delete()
