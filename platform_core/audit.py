"""Recording operator actions (append-only)."""

from __future__ import annotations

from typing import Any

from platform_core.models import OperatorAuditEntry


def record_operator_action(
    actor: Any,
    action: str,
    tenant: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> OperatorAuditEntry:
    return OperatorAuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", "") or "system",
        action=action,
        tenant=tenant,
        before=before or {},
        after=after or {},
        reason=reason,
    )
