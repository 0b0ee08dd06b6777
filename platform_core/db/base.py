"""django-tenants' PostgreSQL backend, without a needless ``SET search_path``.

django-tenants forgets the search path it sent whenever a tenant is set, even the one the
connection is already in, so the next query sends ``SET search_path`` again: every
``schema_context()`` of the current shop (events after commit, tasks, helpers) and every
request of the shop the previous request on this connection was for paid a round trip.
Here setting the same schema (with the same public-schema choice) keeps what was sent.
django-tenants itself still forgets it on rollback (a ``SET`` is undone with the
transaction) and on close, so the connection's real search path is always the one
remembered."""

from __future__ import annotations

from typing import Any

from django_tenants.postgresql_backend import base


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    def set_tenant(self, tenant: Any, include_public: bool = True) -> None:
        sent: Any = getattr(self, "search_path_set_schemas", None)
        same = (
            sent is not None and self.schema_name == tenant.schema_name and self.include_public_schema == include_public
        )
        super().set_tenant(tenant, include_public)
        if same:
            self.search_path_set_schemas = sent
