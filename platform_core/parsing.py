"""Parsing ids and numbers from requests without surprises: ``"²".isdigit()`` is True but
``int("²")`` fails, ``True`` is an int, and a 30-digit id overflows a bigint."""

from __future__ import annotations

from typing import Any

MAX_ID = 2**63 - 1


def as_id(value: Any) -> int | None:
    """A positive database id from an int or an ASCII digit string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    text = str(value).strip() if value is not None else ""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    number = int(text)
    return number if number > 0 else None
