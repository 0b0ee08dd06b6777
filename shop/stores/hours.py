"""Opening hours of a store: their validation, the console's text form of a day, and
whether a local moment falls inside them.

The stored shape is one key per weekday, each a list of ranges (an empty list means the
store is closed that day)::

    {"mon": [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "21:00"}],
     "tue": [...], "wed": [...], "thu": [...], "fri": [...], "sat": [...], "sun": []}

Times are ``HH:MM`` in the shop's local time (settings.TIME_ZONE). A range includes its
opening minute and excludes its closing minute; ``24:00`` closes at midnight. A range
never crosses midnight: hours past midnight end the day at 24:00 and continue from
00:00 on the next day.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
MAX_RANGES_PER_DAY = 6
END_OF_DAY = 24 * 60
_TIME = re.compile(r"^(\d{2}):(\d{2})$")

Ranges = list[dict[str, str]]


def closed_week() -> dict[str, Ranges]:
    return {day: [] for day in DAYS}


def day_label(day: str) -> str:
    return str(WEEKDAYS[DAYS.index(day)])


def to_minutes(value: Any, *, closing: bool = False) -> int | None:
    """ "09:30" → 570; "24:00" → 1440 for a closing time only; None if malformed."""
    if not isinstance(value, str):
        return None
    match = _TIME.match(value)
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2])
    if closing and hour == 24 and minute == 0:
        return END_OF_DAY
    if hour > 23 or minute > 59:
        return None
    return hour * 60 + minute


def day_problems(day: str, ranges: Any) -> tuple[Ranges, list[str]]:
    """The day's ranges cleaned and sorted, and what is wrong with them (messages name the day)."""
    label = day_label(day)
    if not isinstance(ranges, list):
        return [], [_("%(day)s: send a list of opening ranges (an empty list means closed).") % {"day": label}]
    if len(ranges) > MAX_RANGES_PER_DAY:
        return [], [_("%(day)s: at most %(n)s opening ranges.") % {"day": label, "n": MAX_RANGES_PER_DAY}]
    problems: list[str] = []
    spans: list[tuple[int, int]] = []
    for n, item in enumerate(ranges, start=1):
        if not isinstance(item, dict) or set(item) != {"open", "close"}:
            problems.append(
                _('%(day)s, range %(n)s: send {"open": "HH:MM", "close": "HH:MM"}.') % {"day": label, "n": n}
            )
            continue
        opens, closes = to_minutes(item["open"]), to_minutes(item["close"], closing=True)
        if opens is None:
            problems.append(
                _("%(day)s, range %(n)s: the opening time must be HH:MM from 00:00 to 23:59.") % {"day": label, "n": n}
            )
        if closes is None:
            problems.append(
                _("%(day)s, range %(n)s: the closing time must be HH:MM from 00:00 to 24:00.") % {"day": label, "n": n}
            )
        if opens is None or closes is None:
            continue
        if closes <= opens:
            problems.append(
                _(
                    "%(day)s: %(open)s–%(close)s must close after it opens. For hours past midnight, "
                    "end the day at 24:00 and continue from 00:00 on the next day."
                )
                % {"day": label, "open": item["open"], "close": item["close"]}
            )
            continue
        spans.append((opens, closes))
    spans.sort()
    for (open_a, close_a), (open_b, close_b) in zip(spans, spans[1:], strict=False):
        if open_b < close_a:
            problems.append(
                _("%(day)s: %(a)s overlaps %(b)s.")
                % {"day": label, "a": f"{hh_mm(open_a)}–{hh_mm(close_a)}", "b": f"{hh_mm(open_b)}–{hh_mm(close_b)}"}
            )
    cleaned = [{"open": hh_mm(o), "close": hh_mm(c)} for o, c in spans]
    return cleaned, problems


def hours_problems(value: Any) -> tuple[dict[str, Ranges], dict[str, list[str]]]:
    """The week cleaned (all seven days, ranges sorted) and the problems by day ("" for the whole)."""
    if value is None:
        return closed_week(), {}
    if not isinstance(value, dict):
        return closed_week(), {
            "": [_('Send an object with the days mon … sun, each a list of {"open": "HH:MM", "close": "HH:MM"}.')]
        }
    problems: dict[str, list[str]] = {}
    unknown = sorted(str(k) for k in value if k not in DAYS)
    if unknown:
        problems[""] = [
            _("Unknown day %(keys)s: use %(days)s.") % {"keys": ", ".join(unknown), "days": ", ".join(DAYS)}
        ]
    cleaned = closed_week()
    for day in DAYS:
        if day in value:
            cleaned[day], day_errors = day_problems(day, value[day])
            if day_errors:
                problems[day] = day_errors
    return cleaned, problems


def clean_opening_hours(value: Any) -> dict[str, Ranges]:
    cleaned, problems = hours_problems(value)
    if problems:
        raise ValidationError({"opening_hours": [m for msgs in problems.values() for m in msgs]})
    return cleaned


def hh_mm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def is_open(hours: dict[str, Any] | None, local: datetime) -> bool:
    """Whether ``local`` (a wall-clock time in the shop's zone) falls in one of the day's ranges."""
    minute = local.hour * 60 + local.minute
    for item in (hours or {}).get(DAYS[local.weekday()]) or []:
        opens = to_minutes(item.get("open"))
        closes = to_minutes(item.get("close"), closing=True)
        if opens is not None and closes is not None and opens <= minute < closes:
            return True
    return False


# --- the console's text form of one day: "09:00-12:00, 13:00-21:00" -------------------------
_SEPARATORS = str.maketrans(
    {"，": ",", "；": ",", ";": ",", "、": ",", "：": ":", "–": "-", "—": "-", "~": "-", "～": "-"}
)
_LOOSE_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def format_day(ranges: Any) -> str:
    return ", ".join(f"{r['open']}-{r['close']}" for r in ranges or [] if isinstance(r, dict))


def parse_day(text: str) -> Ranges:
    """ "9:00-12:00, 13:00-21:00" → ranges (not yet validated); "" → closed. ValueError if unreadable."""
    ranges: Ranges = []
    for part in (text or "").translate(_SEPARATORS).split(","):
        part = part.strip()
        if not part:
            continue
        times = [t.strip() for t in part.split("-")]
        if len(times) != 2 or not all(_LOOSE_TIME.match(t) for t in times):
            raise ValueError(_("Write the hours like 09:00-12:00, 13:00-21:00; leave empty when closed."))
        ranges.append({"open": times[0].zfill(5), "close": times[1].zfill(5)})
    return ranges
