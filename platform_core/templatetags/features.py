from __future__ import annotations

from typing import Any

from django import template

from platform_core.features import feature_value

register = template.Library()


@register.simple_tag(takes_context=True)
def feature(context: template.Context, key: str) -> Any:
    """``{% feature "flash_sales" as on %}{% if on %}…{% endif %}`` for the current shop."""
    request = context.get("request")
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public":
        return False
    return feature_value(tenant, key)
