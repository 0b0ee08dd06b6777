"""Reads for the merchant: compliance and fraud flags.

* ``self_referral`` — a buyer bound to a distributor who looks like the same person:
  the same device id on their visits, or a delivery address with the same phone number
  or the same street address;
* ``binding_velocity`` — a distributor gaining bindings faster than ``velocity_limit``
  per hour (bought traffic, scripted sign-ups);
* ``refund_after_settlement`` — distributors whose settled commission keeps being clawed
  back (at least ``clawback_limit`` lines), or who owe clawback debt.

Each flag names the distributor, the kind, and the evidence; nothing is blocked
automatically — the merchant decides (freeze, ban, re-bind)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def fraud_flags(
    now: datetime | None = None, *, velocity_limit: int = 30, clawback_limit: int = 2
) -> list[dict[str, Any]]:
    now = now or timezone.now()
    flags: list[dict[str, Any]] = []
    for distributor_id, member_id, device in _rows(
        "SELECT DISTINCT b.distributor_id, b.member_id, v1.device_id FROM distribution_binding b "
        "JOIN distribution_distributor d ON d.id = b.distributor_id "
        "JOIN distribution_visit v1 ON v1.member_id = b.member_id "
        "JOIN distribution_visit v2 ON v2.member_id = d.member_id AND v2.device_id = v1.device_id "
        "LIMIT 500",
        [],
    ):
        flags.append(
            {
                "kind": "self_referral",
                "distributor": distributor_id,
                "member": member_id,
                "evidence": {"device": device},
            }
        )
    for distributor_id, member_id, same_phone in _rows(
        "SELECT DISTINCT b.distributor_id, b.member_id, a1.phone = a2.phone FROM distribution_binding b "
        "JOIN distribution_distributor d ON d.id = b.distributor_id "
        "JOIN members_address a1 ON a1.member_id = b.member_id "
        "JOIN members_address a2 ON a2.member_id = d.member_id "
        "WHERE a1.phone = a2.phone OR (a1.province = a2.province AND a1.city = a2.city "
        "AND a1.district = a2.district AND a1.detail = a2.detail) LIMIT 500",
        [],
    ):
        flags.append(
            {
                "kind": "self_referral",
                "distributor": distributor_id,
                "member": member_id,
                "evidence": {"same": "phone" if same_phone else "address"},
            }
        )
    for distributor_id, count in _rows(
        "SELECT to_distributor_id, count(*) FROM distribution_bindingevent WHERE at >= %s AND to_distributor_id "
        "IS NOT NULL GROUP BY to_distributor_id HAVING count(*) > %s",
        [now - timedelta(hours=1), velocity_limit],
    ):
        flags.append(
            {"kind": "binding_velocity", "distributor": distributor_id, "evidence": {"bindings_last_hour": count}}
        )
    for distributor_id, lines, debt in _rows(
        "WITH clawed AS (SELECT distributor_id, count(*) AS n FROM distribution_commissionline "
        "WHERE clawed_back > 0 GROUP BY distributor_id), "
        "owed AS (SELECT distributor_id, -balance AS debt FROM distribution_ledgeraccount "
        "WHERE kind = 'clawback_debt' AND balance < 0) "
        "SELECT coalesce(c.distributor_id, o.distributor_id), coalesce(c.n, 0), coalesce(o.debt, 0) "
        "FROM clawed c FULL OUTER JOIN owed o ON o.distributor_id = c.distributor_id "
        "WHERE coalesce(c.n, 0) >= %s OR coalesce(o.debt, 0) > 0",
        [clawback_limit],
    ):
        flags.append(
            {
                "kind": "refund_after_settlement",
                "distributor": distributor_id,
                "evidence": {"clawed_back_lines": lines, "debt": int(debt)},
            }
        )
    return flags
