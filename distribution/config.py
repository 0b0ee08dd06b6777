"""The shop's distribution settings: reading them as plain data and ``settings_update``,
which validates every field (field-level errors, nothing written unless all is valid).

Gates (``platform_core.features``): ``distribution_levels`` bounds ``levels`` (never
above ``DISTRIBUTION_LEVEL_CAP``); grades need ``distributor_grades``; team dividends
need ``team_dividends``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from distribution.models import BP, DistributionSettings, Grade, RateOverride
from platform_core.features import DISTRIBUTION_LEVEL_CAP, feature_value, has_feature

S = DistributionSettings
Errors = dict[str, list[str]]
METHODS = ("shop_balance", "bank", "stripe_connect")
MAX_FEN = 1_000_000_000
MAX_FORM_FIELDS = 20
MAX_GRADES = 20
MAX_OVERRIDES = 2000

SCALARS = [
    "enabled",
    "qualification",
    "spending_threshold",
    "application_fields",
    "agreement_text",
    "binding_trigger",
    "binding_days",
    "attribution",
    "levels",
    "self_purchase",
    "rate_level1_bp",
    "rate_level2_bp",
    "rate_level3_bp",
    "commission_cap_bp",
    "team_dividend_enabled",
    "hold_days",
    "settlement_mode",
    "settlement_day",
    "withdrawal_minimum",
    "withdrawal_fee_bp",
    "withdrawal_daily_cap",
    "withdrawal_methods",
    "withdrawal_review",
    "distributor_word",
    "commission_word",
    "preview_audience",
]


def max_levels(tenant: Any) -> int:
    value = feature_value(tenant, "distribution_levels")
    return max(1, min(int(value or 1), DISTRIBUTION_LEVEL_CAP))


def settings_data(tenant: Any) -> dict[str, Any]:
    settings = S.current()
    data: dict[str, Any] = {f: getattr(settings, f) for f in SCALARS}
    data["grades"] = [
        {
            "name": g.name,
            "rank": g.rank,
            "rates_bp": [g.rate_level1_bp, g.rate_level2_bp, g.rate_level3_bp],
            "min_own_sales": g.min_own_sales,
            "min_team_sales": g.min_team_sales,
            "min_direct_invitees": g.min_direct_invitees,
            "dividend_bp": g.dividend_bp,
        }
        for g in Grade.objects.all()
    ]
    data["overrides"] = [
        {
            "scope": o.scope,
            "target": o.target_id,
            "level": o.level,
            "mode": o.mode,
            "rate_bp": o.rate_bp,
            "amount": o.amount,
        }
        for o in RateOverride.objects.all()
    ]
    data["max_levels"] = max_levels(tenant)
    data["distributor_label"] = settings.distributor_label
    data["commission_label"] = settings.commission_label
    return data


# --- field checks ---------------------------------------------------------------------------
def _int(value: Any, low: int, high: int, errors: Errors, field: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        else:
            errors[field] = [_("Enter a whole number.")]
            return None
    if not low <= value <= high:
        errors[field] = [_("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}]
        return None
    return int(value)


def _bool(value: Any, errors: Errors, field: str) -> bool | None:
    if isinstance(value, bool):
        return value
    errors[field] = [_("Use true or false.")]
    return None


def _choice(value: Any, choices: list[str], errors: Errors, field: str) -> str | None:
    if isinstance(value, str) and value in choices:
        return value
    errors[field] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}]
    return None


def _text(value: Any, limit: int, errors: Errors, field: str) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field] = [_("Enter text.")]
        return None
    value = value.strip()
    if len(value) > limit:
        errors[field] = [_("Use at most %(n)s characters.") % {"n": limit}]
        return None
    return value


def _form_fields(value: Any, errors: Errors) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or len(value) > MAX_FORM_FIELDS:
        errors["application_fields"] = [_("Give a list of at most %(n)s fields.") % {"n": MAX_FORM_FIELDS}]
        return None
    out, names = [], set()
    for n, item in enumerate(value, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        required = item.get("required", False) if isinstance(item, dict) else None
        if (
            not isinstance(name, str)
            or not name.isidentifier()
            or len(name) > 30
            or name in names
            or not isinstance(label, str)
            or not 0 < len(label.strip()) <= 40
            or not isinstance(required, bool)
        ):
            errors["application_fields"] = [
                _("Field %(n)s: give a unique name (letters, digits, _), a label and required true/false.") % {"n": n}
            ]
            return None
        names.add(name)
        out.append({"name": name, "label": label.strip(), "required": required})
    return out


def _methods(value: Any, errors: Errors) -> list[str] | None:
    if not isinstance(value, list) or not value or any(m not in METHODS for m in value):
        errors["withdrawal_methods"] = [_("Choose at least one of: %(choices)s.") % {"choices": ", ".join(METHODS)}]
        return None
    return sorted(set(value), key=METHODS.index)


def _grades(value: Any, levels: int, errors: Errors) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or len(value) > MAX_GRADES:
        errors["grades"] = [_("Give a list of at most %(n)s grades.") % {"n": MAX_GRADES}]
        return None
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    ranks: set[int] = set()
    for n, item in enumerate(value, start=1):
        sub: Errors = {}
        if not isinstance(item, dict):
            errors["grades"] = [_("Grade %(n)s: give an object.") % {"n": n}]
            return None
        name = _text(item.get("name"), 40, sub, "name")
        rank = _int(item.get("rank"), 1, 1000, sub, "rank")
        raw_rates = item.get("rates_bp", [None, None, None])
        rates: list[int | None] = []
        if not isinstance(raw_rates, list) or len(raw_rates) > DISTRIBUTION_LEVEL_CAP:
            sub["rates_bp"] = [_("Give up to three rates.")]
        else:
            raw_rates = [*raw_rates, None, None, None][:3]
            for r in raw_rates:
                rates.append(_int(r, 0, BP, sub, "rates_bp", nullable=True))
            if not sub and sum(r for r in rates if r is not None) > BP:
                sub["rates_bp"] = [_("The rates of all levels together cannot exceed 100%.")]
        own = _int(item.get("min_own_sales", 0), 0, MAX_FEN, sub, "min_own_sales")
        team = _int(item.get("min_team_sales", 0), 0, MAX_FEN, sub, "min_team_sales")
        invitees = _int(item.get("min_direct_invitees", 0), 0, 1_000_000, sub, "min_direct_invitees")
        dividend = _int(item.get("dividend_bp", 0), 0, BP, sub, "dividend_bp")
        if not name:
            sub.setdefault("name", [_("Enter a name.")])
        if name in names or rank in ranks:
            sub["name"] = [_("Names and ranks of grades must be unique.")]
        if sub:
            field, messages = next(iter(sub.items()))
            errors["grades"] = [
                _("Grade %(n)s, %(field)s: %(message)s") % {"n": n, "field": field, "message": messages[0]}
            ]
            return None
        names.add(str(name))
        ranks.add(int(rank or 0))
        out.append(
            {
                "name": name,
                "rank": rank,
                "rate_level1_bp": rates[0],
                "rate_level2_bp": rates[1],
                "rate_level3_bp": rates[2],
                "min_own_sales": own,
                "min_team_sales": team,
                "min_direct_invitees": invitees,
                "dividend_bp": dividend,
            }
        )
    return out


def _overrides(value: Any, errors: Errors) -> list[dict[str, Any]] | None:
    from shop.catalogue.models import Category, Product, Sku

    if not isinstance(value, list) or len(value) > MAX_OVERRIDES:
        errors["overrides"] = [_("Give a list of at most %(n)s overrides.") % {"n": MAX_OVERRIDES}]
        return None
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int]] = set()
    wanted: dict[str, set[int]] = {"category": set(), "product": set(), "sku": set()}
    for n, item in enumerate(value, start=1):
        sub: Errors = {}
        if not isinstance(item, dict):
            errors["overrides"] = [_("Override %(n)s: give an object.") % {"n": n}]
            return None
        scope = _choice(item.get("scope"), list(RateOverride.Scope.values), sub, "scope")
        target = _int(item.get("target"), 1, 2**31 - 1, sub, "target")
        level = _int(item.get("level", 1), 1, DISTRIBUTION_LEVEL_CAP, sub, "level")
        mode = _choice(item.get("mode"), list(RateOverride.Mode.values), sub, "mode")
        rate = amount = None
        if mode == "percent":
            rate = _int(item.get("rate_bp"), 0, BP, sub, "rate_bp")
        elif mode == "fixed":
            amount = _int(item.get("amount"), 0, MAX_FEN, sub, "amount")
        if not sub and (str(scope), int(target or 0), int(level or 0)) in seen:
            sub["target"] = [_("Listed twice for the same level.")]
        if sub:
            field, messages = next(iter(sub.items()))
            errors["overrides"] = [
                _("Override %(n)s, %(field)s: %(message)s") % {"n": n, "field": field, "message": messages[0]}
            ]
            return None
        seen.add((str(scope), int(target or 0), int(level or 0)))
        wanted[str(scope)].add(int(target or 0))
        out.append(
            {"scope": scope, "target_id": target, "level": level, "mode": mode, "rate_bp": rate, "amount": amount}
        )
    percent: dict[tuple[str, int], int] = {}
    for o in out:
        if o["mode"] == "percent":
            percent[(o["scope"], o["target_id"])] = percent.get((o["scope"], o["target_id"]), 0) + int(o["rate_bp"])
    for (scope, target), total in percent.items():
        if total > BP:
            errors["overrides"] = [
                _("The %(scope)s %(id)s: the rates of all levels together cannot exceed 100%%.")
                % {"scope": scope, "id": target}
            ]
            return None
    for scope, model in (("category", Category), ("product", Product), ("sku", Sku)):
        ids = wanted[scope]
        if ids:
            found = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))  # type: ignore[attr-defined]
            if missing := sorted(ids - found):
                errors["overrides"] = [
                    _("No %(scope)s with id %(id)s in this shop.") % {"scope": scope, "id": missing[0]}
                ]
                return None
    return out


def settings_update(tenant: Any, data: dict[str, Any]) -> DistributionSettings:
    """Change any subset of the settings (``grades`` / ``overrides``, when given, replace
    the lists). Every field is checked; on any error nothing is written and a
    ValidationError names each bad field."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": [_("Send a JSON object.")]})
    errors: Errors = {}
    unknown = sorted(set(data) - set(SCALARS) - {"grades", "overrides"})
    for field in unknown:
        errors[field] = [_("Unknown setting.")]
    with transaction.atomic():
        settings = DistributionSettings.objects.select_for_update().get(pk=S.current().pk)
        values: dict[str, Any] = {}
        checks: dict[str, Any] = {
            "enabled": lambda v, f: _bool(v, errors, f),
            "self_purchase": lambda v, f: _bool(v, errors, f),
            "team_dividend_enabled": lambda v, f: _bool(v, errors, f),
            "withdrawal_review": lambda v, f: _bool(v, errors, f),
            "qualification": lambda v, f: _choice(v, list(S.Qualification.values), errors, f),
            "binding_trigger": lambda v, f: _choice(v, list(S.Trigger.values), errors, f),
            "attribution": lambda v, f: _choice(v, list(S.Attribution.values), errors, f),
            "settlement_mode": lambda v, f: _choice(v, list(S.Settlement.values), errors, f),
            "preview_audience": lambda v, f: _choice(v, list(S.Preview.values), errors, f),
            "spending_threshold": lambda v, f: _int(v, 0, MAX_FEN, errors, f),
            "binding_days": lambda v, f: _int(v, 1, 3650, errors, f, nullable=True),
            "levels": lambda v, f: _int(v, 1, DISTRIBUTION_LEVEL_CAP, errors, f),
            "rate_level1_bp": lambda v, f: _int(v, 0, BP, errors, f),
            "rate_level2_bp": lambda v, f: _int(v, 0, BP, errors, f),
            "rate_level3_bp": lambda v, f: _int(v, 0, BP, errors, f),
            "commission_cap_bp": lambda v, f: _int(v, 1, BP, errors, f),
            "hold_days": lambda v, f: _int(v, 0, 365, errors, f),
            "settlement_day": lambda v, f: _int(v, 1, 28, errors, f),
            "withdrawal_minimum": lambda v, f: _int(v, 1, MAX_FEN, errors, f),
            "withdrawal_fee_bp": lambda v, f: _int(v, 0, 5000, errors, f),
            "withdrawal_daily_cap": lambda v, f: _int(v, 1, MAX_FEN, errors, f, nullable=True),
            "withdrawal_methods": lambda v, f: _methods(v, errors),
            "application_fields": lambda v, f: _form_fields(v, errors),
            "agreement_text": lambda v, f: _text(v, 20_000, errors, f),
            "distributor_word": lambda v, f: _text(v, 20, errors, f),
            "commission_word": lambda v, f: _text(v, 20, errors, f),
        }
        for field, check in checks.items():
            if field in data:
                value = check(data[field], field)
                if field not in errors:
                    values[field] = value
        merged = {f: values.get(f, getattr(settings, f)) for f in SCALARS}
        allowed = max_levels(tenant)
        if "levels" in values and values["levels"] > allowed:
            errors["levels"] = [_("Your plan allows at most %(n)s levels.") % {"n": allowed}]
        if not {"levels", "rate_level1_bp", "rate_level2_bp", "rate_level3_bp"} & set(errors):
            total = sum(merged[f"rate_level{n}_bp"] for n in range(1, merged["levels"] + 1))
            if total > BP:
                errors["rate_level1_bp"] = [_("The rates of all levels together cannot exceed 100%.")]
        if values.get("team_dividend_enabled") and not has_feature(tenant, "team_dividends"):
            errors["team_dividend_enabled"] = [_("Team dividends are not included in your plan.")]
        if merged["qualification"] == S.Qualification.AFTER_SPENDING and not merged["spending_threshold"]:
            if "qualification" not in errors and "spending_threshold" not in errors:
                errors["spending_threshold"] = [_("Set the amount a buyer must spend.")]
        grades = overrides = None
        if "grades" in data:
            if data["grades"] and not has_feature(tenant, "distributor_grades"):
                errors["grades"] = [_("Distributor grades are not included in your plan.")]
            else:
                grades = _grades(data["grades"], merged["levels"], errors)
        if "overrides" in data:
            overrides = _overrides(data["overrides"], errors)
        if errors:
            raise ValidationError(errors)
        for field, value in values.items():
            setattr(settings, field, value)
        settings.save()
        if grades is not None:
            _replace_grades(grades)
        if overrides is not None:
            RateOverride.objects.all().delete()
            RateOverride.objects.bulk_create([RateOverride(**o) for o in overrides])
    return settings


def _replace_grades(grades: list[dict[str, Any]]) -> None:
    """Grades are matched by name: kept grades keep their distributors; removed ones are
    unassigned (their distributors fall back to the default rates)."""
    keep = {g["name"] for g in grades}
    Grade.objects.exclude(name__in=keep).delete()
    # free the ranks first so a reordering never trips the unique rank
    existing = {g.name: g for g in Grade.objects.select_for_update()}
    for n, grade in enumerate(existing.values(), start=1):
        grade.rank = 10_000 + n
        grade.save(update_fields=["rank"])
    for item in grades:
        found = existing.get(item["name"])
        if found is None:
            Grade.objects.create(**item)
        else:
            for key, value in item.items():
                setattr(found, key, value)
            found.save()
