from __future__ import annotations

from celery import shared_task

from tenants.schemas import refill_pool


@shared_task(name="tenants.refill_schema_pool", acks_late=True, ignore_result=True)
def refill_schema_pool() -> dict[str, int]:
    """Top the warm pool back up (idempotent: each run only fills what is missing)."""
    return refill_pool()
