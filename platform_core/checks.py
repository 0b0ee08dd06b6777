"""Findings of the consistency checks a domain runs over a shop (the money reconciliation
of ``distribution_verify``, …): a finding is a code, what it is about, and the figures
that disagree. Domains register how each of their codes reads (``describe``), so the
merchant console, the operator console and the command line show the same sentence in
the reader's language. ``platform_core`` knows no domain: it only keeps and shows them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_KEPT = 200  # findings kept per shop and check (the count is always complete)


@dataclass(frozen=True)
class Finding:
    code: str  # e.g. "line_over_refunded"
    subject: str  # what it is about, for people: "order 2026… line 12 (Tea)"
    figures: dict[str, Any] = field(default_factory=dict)  # the numbers that disagree (fen)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "subject": self.subject, "figures": dict(self.figures)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(str(data.get("code", "")), str(data.get("subject", "")), dict(data.get("figures") or {}))


# code → a function giving the sentence (in the active language) for the finding's figures
descriptions: dict[str, Callable[[dict[str, Any]], str]] = {}


def describe(finding: Finding | dict[str, Any]) -> str:
    found = finding if isinstance(finding, Finding) else Finding.from_dict(finding)
    sentence = descriptions.get(found.code)
    if sentence is None:
        return f"{found.code}: {found.figures}"
    try:
        return sentence(found.figures)
    except (KeyError, TypeError, ValueError):
        return f"{found.code}: {found.figures}"


def record(schema_name: str, name: str, found: list[Finding]) -> Any:
    """Keep the latest run of check ``name`` over the shop of ``schema_name`` (its count,
    and the first ``MAX_KEPT`` findings), in the public schema. Safe to repeat."""
    from django.utils import timezone
    from django_tenants.utils import get_tenant_model

    from platform_core.models import ShopCheck

    tenant_id = get_tenant_model().objects.filter(schema_name=schema_name).values_list("pk", flat=True).first()
    if tenant_id is None:
        return None
    made, _created = ShopCheck.objects.update_or_create(
        tenant_id=tenant_id,
        name=name,
        defaults={
            "problems": len(found),
            "findings": [f.as_dict() for f in found[:MAX_KEPT]],
            "checked_at": timezone.now(),
        },
    )
    return made


def latest(schema_name: str, name: str) -> Any:
    """The latest run of check ``name`` over this shop, or None."""
    from platform_core.models import ShopCheck

    return ShopCheck.objects.filter(tenant__schema_name=schema_name, name=name).first()
