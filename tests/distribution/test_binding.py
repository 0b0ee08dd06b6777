"""Binding and the tree: share-link visits (also a guest's, resolved at registration),
first/last touch, validity, the guards (no self-binding, no loops, inactive parent
refused), the merchant's re-binding moving a whole subtree, and the BindingEvent trail."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import in_shop, shop_client
from tests.distribution.conftest import bound_buyer, chain, configure, distributor, phone
from tests.orders.conftest import member, member_client

pytestmark = pytest.mark.django_db
# any GET of the shop host carries a share link (the storefront renders through themes)
PAGE = "/api/v1/catalogue/products/"


def _events(tenant: Any, someone: Any) -> list[tuple[Any, Any, str, str]]:
    from distribution.models import BindingEvent

    with in_shop(tenant):
        return [
            (e.from_distributor_id, e.to_distributor_id, e.source, e.actor)
            for e in BindingEvent.objects.filter(member=someone).order_by("id")
        ]


def _bound_to(tenant: Any, someone: Any) -> Any:
    from distribution import services

    with in_shop(tenant):
        binding = services.valid_binding(someone)
        return binding.distributor_id if binding else None


def test_a_logged_in_visit_binds_at_once_first_touch_keeps_it(beta: Any) -> None:
    configure(beta, binding_trigger="first_visit", attribution="first_touch")
    first, second = distributor(beta), distributor(beta)
    buyer = member(beta, phone())
    client = member_client(beta, buyer)
    assert client.get(f"{PAGE}?ref={first.code}&src=qr").status_code == 200
    assert client.get(f"{PAGE}?ref={second.code}").status_code == 200
    assert _bound_to(beta, buyer) == first.pk
    assert _events(beta, buyer) == [(None, first.pk, "qr", f"member:{buyer.pk}")]
    referrer = client.get("/api/v1/distribution/referrer/").json()
    assert referrer["referrer"]["code"] == first.code and referrer["source"] == "qr"


def test_last_touch_moves_the_buyer_with_the_trail(beta: Any) -> None:
    configure(beta, binding_trigger="first_visit", attribution="last_touch")
    first, second = distributor(beta), distributor(beta)
    buyer = member(beta, phone())
    client = member_client(beta, buyer)
    client.get(f"{PAGE}?ref={first.code}")
    client.get(f"{PAGE}?ref={second.code}&src=poster")
    assert _bound_to(beta, buyer) == second.pk
    assert _events(beta, buyer) == [
        (None, first.pk, "link", f"member:{buyer.pk}"),
        (first.pk, second.pk, "poster", f"member:{buyer.pk}"),
    ]


def test_an_expired_binding_no_longer_counts(beta: Any) -> None:
    from distribution.models import Binding

    configure(beta, attribution="first_touch", binding_days=30)
    first, second = distributor(beta), distributor(beta)
    buyer = bound_buyer(beta, first)
    with in_shop(beta):
        binding = Binding.objects.get(member=buyer)
        assert binding.expires_at is not None
        assert timedelta(days=29) < binding.expires_at - timezone.now() <= timedelta(days=30)
        Binding.objects.filter(member=buyer).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _bound_to(beta, buyer) is None
    client = member_client(beta, buyer)
    client.get(f"{PAGE}?ref={second.code}")
    assert _bound_to(beta, buyer) == second.pk


def test_a_guest_visit_is_resolved_at_registration(beta: Any) -> None:
    configure(beta, binding_trigger="registration")
    sharer = distributor(beta)
    guest = shop_client(beta)
    guest.get(f"{PAGE}?ref={sharer.code}")
    assert guest.cookies.get("fx_did"), "the guest's device gets an id"
    number = phone()
    response = guest.post(
        "/api/v1/members/register/",
        data=json.dumps({"phone": number, "password": "correct-horse-battery-9"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    from shop.members.models import Member

    with in_shop(beta):
        newcomer = Member.objects.get(phone=number)
    assert _bound_to(beta, newcomer) == sharer.pk
    assert _events(beta, newcomer)[0][:3] == (None, sharer.pk, "link")


def test_registration_trigger_does_not_bind_an_old_member_on_a_visit(beta: Any) -> None:
    configure(beta, binding_trigger="registration")
    sharer = distributor(beta)
    old = member(beta, phone())
    member_client(beta, old).get(f"{PAGE}?ref={sharer.code}")
    assert _bound_to(beta, old) is None


def test_first_order_trigger_binds_when_the_order_is_paid(beta: Any, deliver_events: Any) -> None:
    from tests.distribution.conftest import lines_of, pay

    configure(beta, binding_trigger="first_order", levels=1)
    sharer = distributor(beta)
    buyer = member(beta, phone())
    member_client(beta, buyer).get(f"{PAGE}?ref={sharer.code}")
    assert _bound_to(beta, buyer) is None
    order = pay(beta, buyer, [(1000, 1)], deliver_events)
    assert _bound_to(beta, buyer) == sharer.pk
    assert [line.distributor_id for line in lines_of(beta, order)] == [sharer.pk]


def test_guards_no_self_binding_no_loops_no_inactive_parent(beta: Any) -> None:
    from django.core.exceptions import ValidationError

    from distribution import services

    configure(beta)
    root, child, grandchild = chain(beta, 3)
    frozen = distributor(beta)
    with in_shop(beta):
        services.distributor_action(frozen, "freeze")
        outsider = member(beta, phone())
        for target, field in ((root, "distributor"), (grandchild, "distributor")):
            with pytest.raises(ValidationError) as caught:  # root under its own grandchild: a loop
                services.member_rebind(root.member, target, reason="dispute", actor="staff:1")
            assert field in caught.value.message_dict
        with pytest.raises(ValidationError):
            services.member_rebind(outsider, frozen, reason="dispute", actor="staff:1")
        with pytest.raises(ValidationError) as caught:
            services.member_rebind(outsider, root, reason="", actor="staff:1")
        assert "reason" in caught.value.message_dict
        # a link of one's own never binds oneself
        assert services.bind(outsider, frozen, source="link", evidence={}, actor="t") is None
    client = member_client(beta, root.member)
    client.get(f"{PAGE}?ref={root.code}")
    assert _bound_to(beta, root.member) is None


def test_rebinding_a_distributor_moves_the_whole_subtree(beta: Any) -> None:
    from distribution.models import Distributor

    configure(beta)
    a, b, c = chain(beta, 3)
    other = distributor(beta)
    staff = _console(beta)
    response = staff.post(
        f"/api/v1/console/distribution/members/{b.member_id}/binding/",
        data=json.dumps({"distributor": other.pk, "reason": "客户申诉，核实为 other 推荐"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["events"][-1]["source"] == "merchant"
    assert response.json()["events"][-1]["evidence"] == {"reason": "客户申诉，核实为 other 推荐"}
    with in_shop(beta):
        paths = dict(Distributor.objects.filter(pk__in=[b.pk, c.pk]).values_list("pk", "path"))
        assert paths == {b.pk: f"{other.pk}.{b.pk}", c.pk: f"{other.pk}.{b.pk}.{c.pk}"}
        assert Distributor.objects.get(pk=b.pk).parent_id == other.pk
    del a


def _console(tenant: Any) -> Any:
    from tests.conftest import owner_client

    return owner_client(tenant)


def test_apply_review_then_approve(beta: Any) -> None:
    configure(
        beta,
        qualification="apply_review",
        application_fields=[{"name": "wechat", "label": "微信号", "required": True}],
        agreement_text="分销协议",
    )
    applicant = member(beta, phone())
    client = member_client(beta, applicant)
    bad = client.post("/api/v1/distribution/me/", data=json.dumps({"answers": {}}), content_type="application/json")
    assert bad.status_code == 400
    assert set(bad.json()) == {"wechat", "agreement_accepted"}
    good = client.post(
        "/api/v1/distribution/me/",
        data=json.dumps({"answers": {"wechat": "wx123"}, "agreement_accepted": True}),
        content_type="application/json",
    )
    assert good.status_code == 201 and good.json()["status"] == "pending"
    pk = good.json()["id"]
    approved = _console(beta).post(
        f"/api/v1/console/distribution/distributors/{pk}/",
        data=json.dumps({"action": "approve"}),
        content_type="application/json",
    )
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    centre = client.get("/api/v1/distribution/me/").json()
    assert centre["distributor"]["status"] == "active"
    assert centre["earnings"] == {"pending": 0, "available": 0, "withdrawing": 0, "paid_out": 0, "clawback_debt": 0}


def test_on_registration_every_new_member_becomes_a_distributor(beta: Any) -> None:
    from distribution.models import Distributor
    from shop.members.models import Member

    configure(beta, qualification="on_registration")
    sharer = distributor(beta)
    guest = shop_client(beta)
    guest.get(f"{PAGE}?ref={sharer.code}")
    number = phone()
    response = guest.post(
        "/api/v1/members/register/",
        data=json.dumps({"phone": number, "password": "correct-horse-battery-9"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    with in_shop(beta):
        made = Distributor.objects.get(member=Member.objects.get(phone=number))
    assert made.status == "active" and made.parent_id == sharer.pk and made.path == f"{sharer.path}.{made.pk}"


def test_first_order_trigger_a_guest_visit_then_login_binds_only_at_payment(beta: Any, deliver_events: Any) -> None:
    from tests.distribution.conftest import pay

    configure(beta, binding_trigger="first_order", levels=1)
    sharer = distributor(beta)
    buyer = member(beta, phone())
    browser = shop_client(beta)
    browser.get(f"{PAGE}?ref={sharer.code}&src=poster")
    login = browser.post(
        "/api/v1/members/login/",
        data=json.dumps({"login": buyer.phone, "password": "correct-horse-battery-9"}),
        content_type="application/json",
    )
    assert login.status_code == 200, login.content
    assert _bound_to(beta, buyer) is None  # not at login
    pay(beta, buyer, [(1000, 1)], deliver_events)
    assert _bound_to(beta, buyer) == sharer.pk
    assert _events(beta, buyer)[0][:3] == (None, sharer.pk, "poster")


def test_first_visit_trigger_a_guest_visit_binds_at_login(beta: Any) -> None:
    configure(beta, binding_trigger="first_visit")
    sharer = distributor(beta)
    buyer = member(beta, phone())
    browser = shop_client(beta)
    browser.get(f"{PAGE}?ref={sharer.code}")
    assert _bound_to(beta, buyer) is None
    browser.post(
        "/api/v1/members/login/",
        data=json.dumps({"login": buyer.phone, "password": "correct-horse-battery-9"}),
        content_type="application/json",
    )
    assert _bound_to(beta, buyer) == sharer.pk


def test_invitation_only_needs_an_active_distributors_code_and_makes_them_the_parent(beta: Any) -> None:
    configure(beta, qualification="invitation_only", attribution="first_touch")
    earlier, inviter = distributor(beta), distributor(beta)
    invitee = bound_buyer(beta, earlier)  # bound to someone else first
    client = member_client(beta, invitee)
    bad = client.post(
        "/api/v1/distribution/me/", data=json.dumps({"invite_code": "NOPE"}), content_type="application/json"
    )
    assert bad.status_code == 400 and "invite_code" in bad.json()
    good = client.post(
        "/api/v1/distribution/me/",
        data=json.dumps({"invite_code": inviter.code.lower()}),
        content_type="application/json",
    )
    assert good.status_code == 201, good.content
    assert (good.json()["status"], good.json()["parent"]) == ("active", inviter.pk)
    assert _events(beta, invitee)[-1][:3] == (earlier.pk, inviter.pk, "invite_code")


def test_unknown_codes_and_console_paths_record_nothing(beta: Any) -> None:
    from distribution.models import Visit
    from tests.conftest import owner_client

    configure(beta)
    sharer = distributor(beta)
    guest = shop_client(beta)
    assert guest.get(f"{PAGE}?ref=NOSUCH").status_code == 200
    assert guest.get(f"{PAGE}?ref={'x' * 500}").status_code == 200
    owner_client(beta).get(f"/console/?ref={sharer.code}")
    guest.get(f"{PAGE}?ref={sharer.code}")
    guest.get(f"{PAGE}?ref={sharer.code}")  # a refresh: the same visit
    with in_shop(beta):
        assert list(Visit.objects.values_list("code", flat=True)) == [sharer.code]
    configure(beta, enabled=False)
    shop_client(beta).get(f"{PAGE}?ref={sharer.code}")
    with in_shop(beta):
        assert Visit.objects.count() == 1
