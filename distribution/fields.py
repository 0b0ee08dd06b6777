"""A PostgreSQL ``ltree`` column (the extension lives in the public schema, which every
shop schema has on its search_path)."""

from __future__ import annotations

from typing import Any

from django.db import models


class LtreeField(models.CharField):  # type: ignore[type-arg]
    """Labels are ids joined by dots ("12.40.97"); stored as ``ltree``, read back as str."""

    description = "PostgreSQL ltree path"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2000)
        super().__init__(*args, **kwargs)

    def db_type(self, connection: Any) -> str:
        return "ltree"

    def rel_db_type(self, connection: Any) -> str:
        return "ltree"
