"""Typed access to django-tenants' schema switching on the default connection.

django-tenants' database wrapper adds ``schema_name``, ``set_schema`` and friends at run
time; these helpers give the rest of the code one typed place to use them."""

from __future__ import annotations

from typing import Any, cast

from django.db import connection


def _db() -> Any:
    return cast(Any, connection)


def current_schema() -> str:
    return str(getattr(connection, "schema_name", None) or "public")


def use_public_schema() -> None:
    _db().set_schema_to_public()


def use_schema(schema: str, include_public: bool = True) -> None:
    _db().set_schema(schema, include_public=include_public)


def use_tenant(tenant: Any) -> None:
    _db().set_tenant(tenant)
