"""A new distributor's path while the merchant moves its parent: the move waits for the
new distributor (they share the tree's lock), then moves it with its parent's subtree."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections

from tenants.services import shop_signup
from tests.conftest import PASSWORD, in_shop
from tests.distribution.conftest import configure, distributor, phone
from tests.distribution.test_race import _run, _wait_for_lock_waiter
from tests.orders.conftest import member


def test_a_new_distributor_moves_with_its_parent_rebound_meanwhile(live_db: list[str], monkeypatch: Any) -> None:
    from distribution import services
    from distribution.models import BindingSource, Distributor

    live_db.append("dist-tree-race")
    tenant = shop_signup(name="T", slug="dist-tree-race", email="t@tree.test", password=PASSWORD, tier="pro").tenant
    configure(tenant, levels=2)
    r1, r2 = distributor(tenant), distributor(tenant)
    p = distributor(tenant, r1)
    newcomer = member(tenant, phone())
    with in_shop(tenant):
        services.bind(newcomer, p, source=BindingSource.LINK, evidence={}, actor="t")
    paused, release = threading.Event(), threading.Event()
    real_code = services._new_code

    def slow_code() -> str:
        if threading.current_thread().name == "create":
            paused.set()
            release.wait(10)
        return real_code()

    monkeypatch.setattr(services, "_new_code", slow_code)
    out: dict[str, Any] = {}

    def create() -> None:
        try:
            with in_shop(tenant):
                out["child"] = services.distributor_qualify(newcomer, reason="t")
        finally:
            connections.close_all()

    creating = threading.Thread(target=create, name="create")
    creating.start()
    assert paused.wait(10)
    moving = _run(tenant, "move", lambda: services.member_rebind(p.member, r2, reason="dispute", actor="staff:1"), out)
    _wait_for_lock_waiter()  # the move waits for the new distributor
    release.set()
    creating.join(10)
    moving.join(10)
    with in_shop(tenant):
        child = Distributor.objects.get(pk=out["child"].pk)
        moved = Distributor.objects.get(pk=p.pk)
    assert moved.path == f"{r2.pk}.{p.pk}"
    assert (child.parent_id, child.path) == (p.pk, f"{r2.pk}.{p.pk}.{child.pk}")
