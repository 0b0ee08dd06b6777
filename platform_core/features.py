"""The one registry of what each tier unlocks, and the one place it is checked.

Views, APIs and templates never compare tier names: they call ``require_feature`` /
``check_limit`` (or the DRF permission ``requires_feature`` or the ``{% feature %}`` tag).
Operators override any entry per shop (``FeatureOverride``); a request reads them from its
shop's cached record (``set_overrides_loader``), never with a query of its own. Limits are counted through
callables that each domain registers (``register_usage``), so billing can check a
downgrade without importing the shop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context

TIERS: tuple[str, ...] = ("standard", "pro", "custom")
TIER_CHOICES = [("standard", _("Standard")), ("pro", _("Pro")), ("custom", _("Custom"))]
UNLIMITED = None
# China's legal ceiling for paid distribution levels; no override may exceed it.
DISTRIBUTION_LEVEL_CAP = 3

Kind = Literal["flag", "limit", "number"]


@dataclass(frozen=True)
class Feature:
    key: str
    label: Any
    kind: Kind
    by_tier: dict[str, Any]
    maximum: int | None = None  # hard ceiling even for overrides (numbers only)


def _f(key: str, label: Any, kind: Kind, standard: Any, pro: Any, custom: Any, **kw: Any) -> Feature:
    return Feature(key, label, kind, {"standard": standard, "pro": pro, "custom": custom}, **kw)


REGISTRY: dict[str, Feature] = {
    f.key: f
    for f in [
        _f("products", _("Products"), "limit", 500, 20_000, UNLIMITED),
        _f("staff_seats", _("Staff seats"), "limit", 2, 10, UNLIMITED),
        _f("stores", _("Pickup stores"), "limit", 1, 50, UNLIMITED),
        _f(
            "distribution_levels",
            _("Distribution levels"),
            "number",
            1,
            2,
            2,
            maximum=DISTRIBUTION_LEVEL_CAP,
        ),
        _f("distributor_grades", _("Distributor grades"), "flag", False, True, True),
        _f("team_dividends", _("Team dividends"), "flag", False, True, True),
        _f("coupons", _("Coupons"), "flag", True, True, True),
        _f("limited_time_discounts", _("Limited-time discounts"), "flag", True, True, True),
        _f("flash_sales", _("Flash sales"), "flag", False, True, True),
        _f("group_buying", _("Group buying"), "flag", False, True, True),
        _f("custom_domain", _("Custom domain"), "flag", False, True, True),
        _f("open_api", _("Open API tokens and webhooks"), "flag", False, True, True),
        _f("builtin_themes", _("Built-in themes"), "flag", True, True, True),
        _f("template_overrides", _("Template overrides (Liquid)"), "flag", False, False, True),
        _f("analytics_full", _("Full analytics"), "flag", False, True, True),
        _f("analytics_export", _("Analytics export"), "flag", False, True, True),
    ]
}


class FeatureError(PermissionDenied):
    code = "feature_error"

    def __init__(self, key: str, message: Any, upgrade_tier: str | None) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.upgrade_tier = upgrade_tier

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "feature": self.key, "detail": str(self.message)}
        if self.upgrade_tier:
            data["upgrade"] = {
                "tier": self.upgrade_tier,
                "tier_label": str(dict(TIER_CHOICES)[self.upgrade_tier]),
                "url": "/console/billing/",
            }
        return data


class FeatureNotAvailable(FeatureError):
    code = "feature_not_available"


class LimitReached(FeatureError):
    code = "limit_reached"

    def __init__(self, key: str, message: Any, upgrade_tier: str | None, limit: int, used: int):
        super().__init__(key, message, upgrade_tier)
        self.limit = limit
        self.used = used

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "limit": self.limit, "used": self.used}


def _feature(key: str) -> Feature:
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown feature {key!r}; add it to platform_core.features.REGISTRY") from None


def validate_override(key: str, value: Any) -> Any:
    """Check an operator's override value; returns it normalised or raises ValueError."""
    feature = _feature(key)
    if feature.kind == "flag":
        if not isinstance(value, bool):
            raise ValueError(gettext("%(key)s takes true or false.") % {"key": key})
        return value
    if value is None and feature.kind == "limit":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        if feature.kind == "limit":
            raise ValueError(gettext("%(key)s takes a whole number ≥ 0, or null for unlimited.") % {"key": key})
        raise ValueError(gettext("%(key)s takes a whole number ≥ 0.") % {"key": key})
    if feature.maximum is not None and value > feature.maximum:
        raise ValueError(gettext("%(key)s can never exceed %(max)s.") % {"key": key, "max": feature.maximum})
    return value


OverridesLoader = Callable[[Any], Mapping[str, Any]]
_overrides_loader: OverridesLoader | None = None


def set_overrides_loader(loader: OverridesLoader) -> None:
    """Where a shop's overrides come from when its instance carries none: ``tenants``
    reads them from the per-process shop record (``tenants.hosts``), the same record a
    request's shop comes from, so a feature check costs no query."""
    global _overrides_loader
    _overrides_loader = loader


def _overrides(tenant: Any) -> dict[str, Any]:
    cached = getattr(tenant, "_feature_overrides_cache", None)
    if cached is None:
        if tenant.pk is None:
            cached = {}
        elif _overrides_loader is not None:
            cached = dict(_overrides_loader(tenant))
        else:
            cached = dict(tenant.feature_overrides.values_list("key", "value"))
        tenant._feature_overrides_cache = cached
    return cached


def forget_overrides(tenant: Any) -> None:
    tenant.__dict__.pop("_feature_overrides_cache", None)


def feature_value(tenant: Any, key: str, tier: str | None = None) -> Any:
    """The effective value for the shop: its override if any, else its tier's."""
    feature = _feature(key)
    overrides = _overrides(tenant) if tier is None else {}
    if key in overrides:
        return overrides[key]
    return feature.by_tier[tier or tenant.tier]


def has_feature(tenant: Any, key: str) -> bool:
    return bool(feature_value(tenant, key))


def minimum_tier(key: str, at_least: Any = True) -> str | None:
    """The cheapest tier whose value satisfies ``at_least`` (for upgrade hints)."""
    feature = _feature(key)
    for tier in TIERS:
        value = feature.by_tier[tier]
        if feature.kind == "flag" and value:
            return tier
        if feature.kind != "flag" and (value is UNLIMITED or (isinstance(at_least, int) and value >= at_least)):
            return tier
    return None


def require_feature(tenant: Any, key: str) -> None:
    if not has_feature(tenant, key):
        feature = _feature(key)
        tier = minimum_tier(key)
        raise FeatureNotAvailable(
            key,
            _("%(feature)s is not included in your plan.") % {"feature": feature.label},
            tier if tier != tenant.tier else None,
        )


# --- limits -------------------------------------------------------------------------
UsageCounter = Callable[[], int]
_usage_counters: dict[str, UsageCounter] = {}


def register_usage(key: str, counter: UsageCounter) -> None:
    """A domain registers how to count a limited resource inside the current shop schema."""
    if _feature(key).kind != "limit":
        raise ValueError(f"{key} is not a limit")
    _usage_counters[key] = counter


def usage(tenant: Any, key: str) -> int:
    counter = _usage_counters.get(key)
    if counter is None:
        return 0
    with schema_context(tenant.schema_name):
        return counter()


def check_limit(tenant: Any, key: str, adding: int = 1) -> None:
    """Raise LimitReached if the shop cannot hold ``adding`` more of ``key``."""
    limit = feature_value(tenant, key)
    if limit is UNLIMITED:
        return
    used = usage(tenant, key)
    if used + adding > limit:
        feature = _feature(key)
        raise LimitReached(
            key,
            _("Your plan allows %(limit)s %(feature)s; you have %(used)s.")
            % {"limit": limit, "feature": str(feature.label).lower(), "used": used},
            minimum_tier(key, used + adding),
            limit=limit,
            used=used,
        )


def limits_exceeded_for_tier(tenant: Any, tier: str) -> list[dict[str, Any]]:
    """What the shop must reduce before it can move to ``tier`` (billing's downgrade check)."""
    problems = []
    for key, feature in REGISTRY.items():
        if feature.kind != "limit":
            continue
        limit = _overrides(tenant).get(key, feature.by_tier[tier])
        if limit is UNLIMITED:
            continue
        used = usage(tenant, key)
        if used > limit:
            problems.append(
                {"feature": key, "label": str(feature.label), "limit": limit, "used": used, "reduce_by": used - limit}
            )
    return problems


def effective_features(tenant: Any) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "label": str(f.label),
            "kind": f.kind,
            "value": feature_value(tenant, key),
            "overridden": key in _overrides(tenant),
        }
        for key, f in REGISTRY.items()
    ]


class FeatureDeniedMiddleware:
    """HTML views that hit a gate get a 403 page with the upgrade hint."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, FeatureError):
            return render(request, "platform_core/feature_denied.html", {"error": exception.as_dict()}, status=403)
        return None
