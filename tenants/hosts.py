"""Host → shop without a query: every process keeps the shop record of each host it
served (the shop row: schema, status, tier, …; its operator overrides; the host) in
``platform_core.localcache`` under the scope ``tenancy``.

Any save or delete of a shop, a host or a feature override announces a change of the
scope, so a suspended or closed shop, a new tier or override, a host removed or moved
takes effect in every process within ``LOCAL_CACHE_CHECK_SECONDS`` (0.25 s) of the commit.
A new shop or a new host needs no announcement: unknown hosts are not remembered.
Without the shared cache (Redis down) every lookup reads the database, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django_tenants.utils import get_public_schema_name, schema_context

from platform_core import features, localcache
from platform_core.models import FeatureOverride
from platform_core.tenancy import use_public_schema
from tenants.models import Domain, Tenant

SCOPE = "tenancy"


@dataclass(frozen=True)
class ShopRecord:
    """What a request needs to know about its shop, read once per process."""

    names: tuple[str, ...]  # the shop row's columns (attnames) ...
    values: tuple[Any, ...]  # ... and their values
    overrides: Mapping[str, Any]  # operator overrides of the tier registry

    @property
    def pk(self) -> int:
        return int(self.values[self.names.index("id")])

    def tenant(self) -> Tenant:
        """A fresh instance (requests may set attributes on theirs), overrides attached."""
        tenant = Tenant.from_db("default", list(self.names), list(self.values))
        tenant._feature_overrides_cache = dict(self.overrides)  # type: ignore[attr-defined]
        return tenant


def _record(tenant: Tenant) -> ShopRecord:
    fields = tenant._meta.concrete_fields
    overrides = dict(FeatureOverride.objects.filter(tenant_id=tenant.pk).values_list("key", "value"))
    return ShopRecord(
        names=tuple(f.attname for f in fields),
        values=tuple(getattr(tenant, f.attname) for f in fields),
        overrides=MappingProxyType(overrides),
    )


def _load_host(hostname: str) -> ShopRecord | None:
    """The database lookup: the exact host, then without a leading "www."; verified hosts
    only. Leaves the connection in the public schema (the middleware sets the shop's)."""
    use_public_schema()
    domains = Domain.objects.select_related("tenant").filter(verified=True)
    domain = domains.filter(domain=hostname).first()
    if domain is None and hostname.startswith("www."):
        domain = domains.filter(domain=hostname[4:]).first()
    return None if domain is None else _record(domain.tenant)


def shop_for_host(hostname: str) -> Tenant | None:
    """The shop ``hostname`` routes to (a new instance each call), or None."""
    record = localcache.memo.get(SCOPE, ("host", hostname), lambda: _load_host(hostname), keep=_known, also=_by_id)
    return None if record is None else record.tenant()


def _by_id(record: ShopRecord | None) -> dict[Any, Any]:
    return {} if record is None else {("shop", record.pk): record}


def _known(record: ShopRecord | None) -> bool:
    return record is not None


def _overrides_of(tenant: Any) -> Mapping[str, Any]:
    """Feature overrides of a shop instance that did not come from a host lookup (tasks,
    the operator console): the same cached record, keyed by the shop's id."""

    def load() -> ShopRecord | None:
        with schema_context(get_public_schema_name()):
            found = Tenant.objects.filter(pk=tenant.pk).first()
            return None if found is None else _record(found)

    record = localcache.memo.get(SCOPE, ("shop", tenant.pk), load, keep=_known)
    return {} if record is None else record.overrides


def connect() -> None:
    """Called from ``TenantsConfig.ready()``."""
    # A new shop or host is in no memo (unknown hosts are never kept): only changes and
    # deletions are announced. A new override changes an existing shop.
    localcache.invalidate_on_change(Tenant, SCOPE, on_create=False)
    localcache.invalidate_on_change(Domain, SCOPE, on_create=False)
    localcache.invalidate_on_change(FeatureOverride, SCOPE)
    features.set_overrides_loader(_overrides_of)
