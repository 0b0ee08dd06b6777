from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import PASSWORD

_serial = itertools.count(1)


@pytest.fixture
def custom_shop(db: Any) -> Any:
    """A shop on the custom tier (template overrides), made through signup and rolled
    back with the test."""
    from tenants.services import shop_signup

    n = next(_serial)
    return shop_signup(
        name=f"Sandbox {n}", slug=f"sandbox{n}x", email=f"owner{n}@sandbox.test", password=PASSWORD, tier="custom"
    ).tenant
