"""Every log line names the shop whose schema the connection is in (``public`` on the
platform host, ``-`` outside any request or task)."""

from __future__ import annotations

import logging


class ShopContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            from django.db import connection

            record.shop = getattr(connection, "schema_name", None) or "-"
        except Exception:  # noqa: BLE001 - logging must never fail (e.g. before apps load)
            record.shop = "-"
        return True
