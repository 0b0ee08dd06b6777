"""Marketing objects made through the services, and HTTP shortcuts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from tests.conftest import in_shop


def post(client: Any, url: str, data: Any = None, **extra: Any) -> Any:
    return client.post(url, data=json.dumps(data if data is not None else {}), content_type="application/json", **extra)


def patch(client: Any, url: str, data: Any) -> Any:
    return client.patch(url, data=json.dumps(data), content_type="application/json")


def coupon_template(tenant: Any, **data: Any) -> Any:
    from shop.marketing import services

    body = {"name": "满100减20", "kind": "fixed", "amount": 2000, "min_spend": 10000, "valid_days": 7, **data}
    with in_shop(tenant):
        return services.coupon_template_save(body)


def give_coupon(tenant: Any, template: Any, member: Any) -> Any:
    from shop.marketing import services

    with in_shop(tenant):
        return services.coupon_issue(template, [member.pk])["coupons"][0]


def discount(
    tenant: Any,
    items: list[dict[str, Any]],
    *,
    starts: datetime | None = None,
    ends: datetime | None = None,
    **data: Any,
) -> Any:
    from shop.marketing import services

    now = timezone.now()
    body = {
        "name": "限时折扣",
        "starts_at": (starts or now - timedelta(hours=1)).isoformat(),
        "ends_at": (ends or now + timedelta(hours=1)).isoformat(),
        "items": items,
        **data,
    }
    with in_shop(tenant):
        return services.discount_save(body)


def reduction(tenant: Any, tiers: list[dict[str, int]], kind: str = "amount", **data: Any) -> Any:
    from shop.marketing import services

    now = timezone.now()
    body = {
        "name": "满减",
        "kind": kind,
        "tiers": tiers,
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        **data,
    }
    with in_shop(tenant):
        return services.reduction_save(body)


def coupon_state(tenant: Any, pk: int) -> str:
    from shop.marketing import selectors
    from shop.marketing.models import MemberCoupon

    with in_shop(tenant):
        return selectors.coupon_state(MemberCoupon.objects.get(pk=pk))


def flash_session(
    tenant: Any,
    items: list[dict[str, Any]],
    *,
    starts: datetime | None = None,
    ends: datetime | None = None,
    **data: Any,
) -> Any:
    from shop.marketing import flash

    now = timezone.now()
    body = {
        "name": "秒杀 20:00",
        "starts_at": (starts or now - timedelta(minutes=10)).isoformat(),
        "ends_at": (ends or now + timedelta(hours=1)).isoformat(),
        "items": items,
        **data,
    }
    with in_shop(tenant):
        return flash.session_create(body)


def group_deal(tenant: Any, items: list[dict[str, Any]], *, size: int = 2, hours: int = 24, **data: Any) -> Any:
    from shop.marketing import groups

    now = timezone.now()
    body = {
        "name": "两人团",
        "size": size,
        "hours": hours,
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=3)).isoformat(),
        "items": items,
        **data,
    }
    with in_shop(tenant):
        return groups.deal_create(body)
