"""Why a pooler in front of PostgreSQL must pool sessions, not transactions.

django-tenants puts a connection in a shop by ``SET search_path`` and, with
``TENANT_LIMIT_SET_CALLS``, sends it once per request or task: ``search_path`` is session
state of the server connection. A transaction-mode pooler (PgBouncer ``pool_mode =
transaction``) gives each transaction of a client whichever server connection is free, so
a query can run on a server connection whose ``search_path`` another client set, for
another shop. These tests play that pooler with two real connections (the server
connection handed from one client to the other between transactions, exactly what such a
pooler does) and show the cross-shop read, then the same moves in session mode
(``DISCARD ALL`` before a server connection serves its next client) staying correct.
``helm/README.md`` ("PgBouncer: session mode only") explains it for operators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def owner_email(client: Any) -> str:
    """What a request of the shop ``client`` is in asks for: its owner's email."""
    with client.cursor() as cursor:
        cursor.execute("SELECT email FROM accounts_user WHERE is_owner ORDER BY id LIMIT 1")
        row = cursor.fetchone()
    return str(row[0])


@pytest.fixture
def two_clients() -> Iterator[tuple[Any, Any]]:
    """Two application connections (two web threads), each with its own server connection."""
    first: Any = connections.create_connection("default")
    second: Any = connections.create_connection("default")
    yield first, second
    first.close()
    second.close()


def test_transaction_pooling_hands_one_shops_search_path_to_another(
    alpha: Any, beta: Any, two_clients: tuple[Any, Any]
) -> None:
    a, b = two_clients
    a.set_tenant(alpha)
    b.set_tenant(beta)
    assert owner_email(a) == "owner@alpha.test"  # each sent its SET search_path once ...
    assert owner_email(b) == "owner@beta.test"  # ... and read its own shop
    # Between two transactions a transaction-mode pooler hands out whichever server
    # connection is free: B's next transaction runs on the one A's session configured.
    a.connection, b.connection = b.connection, a.connection
    with CaptureQueriesContext(b) as sent:
        leaked = owner_email(b)
    assert not [q for q in sent.captured_queries if q["sql"].startswith("SET")]  # B believes it is set
    assert leaked == "owner@alpha.test", "beta's request read alpha's data, and nothing failed"


def test_setting_the_path_before_every_query_does_not_save_it(
    alpha: Any, beta: Any, two_clients: tuple[Any, Any]
) -> None:
    """Without TENANT_LIMIT_SET_CALLS django-tenants sends the SET before each query, but in
    autocommit the SET is a transaction of its own: the pooler may run the query after it
    on another server connection."""
    a, b = two_clients
    a.set_tenant(alpha)
    b.set_tenant(beta)
    owner_email(a)
    b.ensure_connection()
    with b.connection.cursor() as cursor:  # B's SET: its own transaction ...
        cursor.execute(f'SET search_path = "{beta.schema_name}", "public"')
    a.connection, b.connection = b.connection, a.connection  # ... the pooler moves B on ...
    with b.connection.cursor() as cursor:  # ... and B's query runs where alpha's path is set
        cursor.execute("SELECT email FROM accounts_user WHERE is_owner ORDER BY id LIMIT 1")
        assert cursor.fetchone()[0] == "owner@alpha.test"


def test_session_pooling_keeps_each_shop_in_its_own_schema(alpha: Any, beta: Any, two_clients: tuple[Any, Any]) -> None:
    a, b = two_clients
    a.set_tenant(alpha)
    b.set_tenant(beta)
    for _ in range(3):  # a session keeps its server connection: every transaction stays home
        assert (owner_email(a), owner_email(b)) == ("owner@alpha.test", "owner@beta.test")
    # A's session ends; PgBouncer resets the server connection (server_reset_query) and
    # gives it to the next client, a new application connection for beta.
    server = a.connection
    with server.cursor() as cursor:
        cursor.execute("DISCARD ALL")
        cursor.execute("SHOW search_path")
        assert alpha.schema_name not in cursor.fetchone()[0]
    a.connection = None  # (A is done; its server connection now belongs to C)
    c: Any = connections.create_connection("default")
    try:
        c.connection = server
        c.set_tenant(beta)
        with CaptureQueriesContext(c) as sent:
            assert owner_email(c) == "owner@beta.test"
        assert sent.captured_queries[0]["sql"] == f'SET search_path = "{beta.schema_name}","public"'
    finally:
        c.close()
