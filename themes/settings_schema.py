"""A theme's settings schema (the ``settings`` list of its manifest) and the validation of
a shop's values against it. The console's settings form is generated from the same
schema; the server is the only judge of what is valid.

Setting types: ``color`` (#rrggbb), ``font`` (one of FONT_STACKS: system fonts only, no
downloads), ``range`` (integer between min and max), ``select`` (one of options),
``checkbox``, ``text`` (max_length, default 120), ``image`` (a path to the shop's own
uploaded media, or empty)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

TYPES = ("color", "font", "range", "select", "checkbox", "text", "image")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FONT_STACKS = {  # unquoted family names: the value is printed into CSS (auto-escaped)
    "system": "-apple-system, BlinkMacSystemFont, PingFang SC, Microsoft YaHei, Helvetica Neue, Arial, sans-serif",
    "serif": "Songti SC, Noto Serif CJK SC, Georgia, Times New Roman, serif",
    "rounded": "PingFang SC, Hiragino Sans GB, Arial Rounded MT Bold, Helvetica Neue, sans-serif",
    "mono": "SFMono-Regular, Menlo, Consolas, monospace",
}
MAX_SETTINGS = 60


def check_schema(schema: Any) -> None:
    """Raise ValidationError when a manifest's settings list is malformed."""
    problems: list[str] = []
    if not isinstance(schema, list) or len(schema) > MAX_SETTINGS:
        raise ValidationError(_("settings must be a list of at most %(n)s entries.") % {"n": MAX_SETTINGS})
    seen: set[str] = set()
    for index, entry in enumerate(schema):
        where = f"settings[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: " + _("must be an object."))
            continue
        sid, kind = entry.get("id"), entry.get("type")
        if not isinstance(sid, str) or not ID.match(sid) or sid in seen:
            problems.append(f"{where}: " + _("needs a unique id of lowercase letters, digits and _."))
        else:
            seen.add(sid)
        if kind not in TYPES:
            problems.append(f"{where}: " + _("unknown type %(t)s.") % {"t": kind})
            continue
        if kind == "select" and not (isinstance(entry.get("options"), list) and entry["options"]):
            problems.append(f"{where}: " + _("a select needs options."))
        if kind == "range" and not (isinstance(entry.get("min"), int) and isinstance(entry.get("max"), int)):
            problems.append(f"{where}: " + _("a range needs integer min and max."))
        try:
            clean_value(entry, entry.get("default"))
        except ValidationError:
            problems.append(f"{where}: " + _("the default is not a valid value."))
    if problems:
        raise ValidationError(problems)


def _option_values(entry: dict[str, Any]) -> list[str]:
    return [o["value"] if isinstance(o, dict) else str(o) for o in entry.get("options", [])]


def clean_value(entry: dict[str, Any], value: Any) -> Any:
    kind = entry["type"]
    if kind == "checkbox":
        if isinstance(value, bool):
            return value
        if value in ("on", "true", "1", 1):
            return True
        if value in (None, "", "false", "0", 0, "off"):
            return False
        raise ValidationError(_("Choose on or off."))
    if value is None:
        value = ""
    if kind == "range":
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValidationError(_("Enter a whole number.")) from None
        if not entry["min"] <= number <= entry["max"]:
            raise ValidationError(_("Enter a number from %(a)s to %(b)s.") % {"a": entry["min"], "b": entry["max"]})
        return number
    if not isinstance(value, str):
        raise ValidationError(_("Enter text."))
    value = value.strip()
    if kind == "color":
        if not COLOR.match(value):
            raise ValidationError(_("Enter a colour like #1a2b3c."))
        return value.lower()
    if kind == "font":
        if value not in FONT_STACKS:
            raise ValidationError(_("Choose one of the fonts offered."))
        return value
    if kind == "select":
        if value not in _option_values(entry):
            raise ValidationError(_("Choose one of the options offered."))
        return value
    if kind == "image":
        prefix = own_media_prefix()
        rest = value[len(prefix) :] if value.startswith(prefix) else ""
        if value and not re.match(r"^[\w./-]+$", rest or "") or ".." in value:
            raise ValidationError(_("Upload an image for this setting."))
        return value
    limit = int(entry.get("max_length", 120))
    if len(value) > limit or "\x00" in value:
        raise ValidationError(_("Keep this under %(n)s characters.") % {"n": limit})
    return value


def own_media_prefix() -> str:
    """Where this shop's uploaded media live (the current schema's folder, local or S3):
    an image setting may only point there."""
    from django.core.files.storage import default_storage

    url = str(default_storage.url("probe")).split("?", 1)[0]
    return url[: -len("probe")]


def defaults(schema: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["id"]: entry.get("default") for entry in schema}


def clean_settings(schema: list[dict[str, Any]], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate ``data`` against ``schema``; field errors keyed by setting id. Unknown keys
    are refused; missing keys take the default (or are kept out when ``partial``)."""
    if not isinstance(data, dict):
        raise ValidationError({"settings": [_("Send the settings as an object.")]})
    known = {entry["id"]: entry for entry in schema}
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in known:
            errors[str(key)[:40]] = [_("This theme has no such setting.")]
    cleaned: dict[str, Any] = {}
    for sid, entry in known.items():
        if sid not in data:
            if not partial:
                cleaned[sid] = entry.get("default")
            continue
        try:
            cleaned[sid] = clean_value(entry, data[sid])
        except ValidationError as exc:
            errors[sid] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    return cleaned
