"""Every write to pickup stores, each in one transaction, with field-level errors
(django ValidationError with a field dict). The tier's store limit (active stores) is
checked on creation and on re-activation, serialised per shop by an advisory lock so two
concurrent requests cannot both take the last store."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from platform_core.features import check_limit
from shop.stores import hours
from shop.stores.models import Store

STORE_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':stores'))"
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-\d{7,8}$")  # 010-12345678, 0755-1234567
TEXT_FIELDS = {"name": 40, "province": 30, "city": 30, "district": 30, "address": 120}
REQUIRED = ("name", "phone", "province", "city", "district", "address")
COORDINATES = {"latitude": Decimal(90), "longitude": Decimal(180)}
FLAGS = ("pickup_enabled", "is_active")
WRITABLE = (*REQUIRED, *COORDINATES, "opening_hours", *FLAGS)
SIX_PLACES = Decimal("0.000001")


def _text(value: Any, limit: int) -> tuple[str, str | None]:
    if value is None:
        value = ""
    if not isinstance(value, str):
        return "", _("Enter text.")
    value = value.strip()
    if not value:
        return "", _("This field is required.")
    if len(value) > limit:
        return value, _("Use at most %(n)s characters.") % {"n": limit}
    return value, None


def _phone(value: Any) -> tuple[str, str | None]:
    if value is None or value == "":
        return "", _("This field is required.")
    if not isinstance(value, str):
        return "", _("Enter text.")
    value = re.sub(r"\s+", "", value)
    if not (MOBILE.match(value) or LANDLINE.match(value)):
        return value, _("Enter a mobile number like 13800138000 or a landline number like 010-12345678.")
    return value, None


def _coordinate(value: Any, field: str) -> tuple[Decimal | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None, _("Enter a number of degrees.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None, _("Enter a number of degrees.")
    bound = COORDINATES[field]
    if not number.is_finite() or not -bound <= number <= bound:
        return None, _("Enter a number of degrees from -%(n)s to %(n)s.") % {"n": bound}
    return number.quantize(SIX_PLACES, rounding=ROUND_HALF_UP), None


def store_clean(data: Any, store: Store | None = None, *, partial: bool = False) -> dict[str, Any]:
    """Validate ``data`` (a dict of the writable fields) for a new store or for ``store``;
    returns the cleaned values of the fields given (all fields with defaults on creation).
    ``partial``: fields left out keep their values; otherwise the required ones must be given."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": [_("Send an object of store fields.")]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if store is None or not partial:
        for field in REQUIRED:
            if field not in data:
                errors[field] = [_("This field is required.")]
    for field, limit in TEXT_FIELDS.items():
        if field in data:
            cleaned[field], problem = _text(data[field], limit)
            if problem:
                errors[field] = [problem]
    if "phone" in data:
        cleaned["phone"], problem = _phone(data["phone"])
        if problem:
            errors["phone"] = [problem]
    for field in COORDINATES:
        if field in data:
            cleaned[field], problem = _coordinate(data[field], field)
            if problem:
                errors[field] = [problem]
    if not any(f in errors for f in COORDINATES):
        latitude = cleaned.get("latitude", store.latitude if store else None)
        longitude = cleaned.get("longitude", store.longitude if store else None)
        if (latitude is None) != (longitude is None):
            missing = "latitude" if latitude is None else "longitude"
            errors[missing] = [_("Give both latitude and longitude, or neither.")]
    if "opening_hours" in data:
        try:
            cleaned["opening_hours"] = hours.clean_opening_hours(data["opening_hours"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    for field in FLAGS:
        if field in data:
            if not isinstance(data[field], bool):
                errors[field] = [_("Send true or false.")]
            else:
                cleaned[field] = data[field]
    if "name" in cleaned and "name" not in errors and _name_taken(cleaned["name"], store):
        errors["name"] = [_("There is already a store with this name.")]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _name_taken(name: str, store: Store | None) -> bool:
    taken = Store.objects.filter(name__iexact=name)
    if store is not None:
        taken = taken.exclude(pk=store.pk)
    return taken.exists()


def _lock_store_count() -> None:
    with connection.cursor() as cursor:
        cursor.execute(STORE_LOCK_SQL)


def _save(store: Store) -> None:
    try:
        with transaction.atomic():
            store.save()
    except IntegrityError as exc:
        if "store_name_ci_uniq" in str(exc):
            raise ValidationError({"name": [_("There is already a store with this name.")]}) from exc
        raise


def store_create(tenant: Any, data: Any) -> Store:
    """A new store (active unless ``is_active`` is false): the tier's store limit applies."""
    cleaned = store_clean(data)
    with transaction.atomic():
        if cleaned.get("is_active", True):
            _lock_store_count()
            check_limit(tenant, "stores")
        store = Store(**cleaned)
        _save(store)
    return store


def store_update(tenant: Any, store: Store, data: Any, *, partial: bool = True) -> Store:
    """Change a store. ``is_active`` may be part of ``data``: re-activation checks the limit,
    and the whole change is refused (nothing written) if it fails."""
    cleaned = store_clean(data, store, partial=partial)
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        if cleaned.get("is_active") and not locked.is_active:
            _lock_store_count()
            check_limit(tenant, "stores")
        for field, value in cleaned.items():
            setattr(locked, field, value)
        _save(locked)
    return locked


def store_set_active(tenant: Any, store: Store, active: bool) -> Store:
    """Deactivate (the store disappears from checkout; its orders keep pointing at it) or
    re-activate (within the tier's store limit)."""
    return store_update(tenant, store, {"is_active": bool(active)})
