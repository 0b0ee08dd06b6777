"""Reads of pickup stores, for the console, the storefront and (later) checkout and orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from platform_core.parsing import as_id
from shop.stores import hours
from shop.stores.models import Store


def count_stores() -> int:
    """What the tier's store limit counts: active stores (deactivated ones are kept, uncounted)."""
    return Store.objects.filter(is_active=True).count()


def shop_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_time(when: datetime) -> datetime:
    """``when`` on the shop's wall clock; a naive datetime is taken as already local."""
    if timezone.is_naive(when):
        return when
    return when.astimezone(shop_zone())


def is_open_at(store: Store, when: datetime) -> bool:
    """Whether the store is open at ``when`` by its opening hours (settings.TIME_ZONE).
    An inactive store is never open."""
    return store.is_active and hours.is_open(store.opening_hours, local_time(when))


def pickup_stores() -> QuerySet[Store]:
    """Stores a buyer can choose at checkout: active, with pickup enabled."""
    return Store.objects.filter(is_active=True, pickup_enabled=True).order_by("name", "id")


def pickup_store(pk: Any) -> Store | None:
    """The pickup store a buyer chose, or None if there is no such store taking pickups now
    (checkout and orders call this to re-check the choice)."""
    store_pk = as_id(pk)
    if store_pk is None:
        return None
    return pickup_stores().filter(pk=store_pk).first()


def snapshot(store: Store) -> dict[str, Any]:
    """What an order keeps of its pickup store, so later edits of the store do not rewrite it."""
    return {
        "id": store.pk,
        "name": store.name,
        "phone": store.phone,
        "province": store.province,
        "city": store.city,
        "district": store.district,
        "address": store.address,
        "latitude": None if store.latitude is None else str(store.latitude),
        "longitude": None if store.longitude is None else str(store.longitude),
    }
