"""Races, run deterministically: the competing action runs at an exact point inside the
first (DESIGN.md, Code conventions)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, connections

from shop.members import services
from shop.members.models import MAX_ADDRESSES, Address, Member
from tests.conftest import PASSWORD, in_shop
from tests.members.factories import ADDRESS, make_address, make_member


@pytest.mark.parametrize(("field", "value"), [("phone", "13800138000"), ("email", "Racer@Example.com")])
@pytest.mark.django_db
def test_a_registration_losing_a_race_gets_a_field_error(alpha: Any, monkeypatch: Any, field: str, value: str) -> None:
    make_member(alpha, **{field: value})
    # As if the other registration committed just after this one checked: only the
    # database's unique index is left to catch it.
    monkeypatch.setattr(services, "_identity_errors", lambda *args, **kwargs: {})
    with in_shop(alpha), pytest.raises(ValidationError) as caught:
        services.member_register(password=PASSWORD, **{field: value.upper()})
    assert list(caught.value.message_dict) == [field]
    with in_shop(alpha):
        assert Member.objects.count() == 1


def test_two_adds_at_the_address_cap_cannot_both_pass(live_db: list[str], monkeypatch: Any) -> None:
    from tenants.services import shop_signup

    # A shop of its own: committed rows never land in the shared fixture shops.
    live_db.append("member-race")
    shop = shop_signup(
        name="Race", slug="member-race", email="owner@race.test", password=PASSWORD, tier="standard"
    ).tenant
    member = make_member(shop, email="racer@example.com")
    try:
        for i in range(MAX_ADDRESSES - 1):
            make_address(shop, member, recipient=f"收件人{i}")
        holding, release = threading.Event(), threading.Event()
        lock_member = services._lock_member

        def pausing_lock(m: Any) -> None:
            lock_member(m)
            if threading.current_thread().name == "first-adder":
                holding.set()  # the first add holds the member's lock and is about to count
                release.wait(10)

        monkeypatch.setattr(services, "_lock_member", pausing_lock)
        failures: list[BaseException] = []

        def first_add() -> None:
            try:
                with in_shop(shop):
                    services.address_create(member, **ADDRESS)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=first_add, name="first-adder")
        thread.start()
        try:
            assert holding.wait(10)
            with in_shop(shop):
                with connection.cursor() as cursor:
                    cursor.execute("SET lock_timeout = '300ms'")
                # The second add cannot count the 19 addresses the first one counted: it waits.
                with pytest.raises(OperationalError, match="lock timeout"):
                    services.address_create(member, **{**ADDRESS, "recipient": "second"})
        finally:
            release.set()
            thread.join(10)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
        assert failures == []
        with in_shop(shop):
            with pytest.raises(ValidationError):  # once the first committed, the cap holds
                services.address_create(member, **{**ADDRESS, "recipient": "second"})
            assert Address.objects.filter(member=member).count() == MAX_ADDRESSES
            assert Address.objects.filter(member=member, is_default=True).count() == 1
    finally:
        with in_shop(shop):
            Member.objects.filter(pk=member.pk).delete()
