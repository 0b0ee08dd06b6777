"""Cross-shop: a distributor of one shop is nothing on another, on every distribution
endpoint (member and console), and another shop's ids answer 404."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import in_shop, owner_client
from tests.distribution.conftest import configure, distributor
from tests.orders.conftest import member_client

pytestmark = pytest.mark.django_db

MEMBER_URLS = [
    "/api/v1/distribution/me/",
    "/api/v1/distribution/referrer/",
    "/api/v1/distribution/commissions/",
    "/api/v1/distribution/team/",
    "/api/v1/distribution/withdrawals/",
    "/api/v1/distribution/materials/",
    "/api/v1/distribution/materials/qr.png",
    "/api/v1/distribution/rankings/",
]


def test_a_distributor_of_one_shop_is_nothing_on_another(alpha: Any, beta: Any) -> None:
    configure(alpha)
    configure(beta)
    mine = distributor(alpha)
    own = member_client(alpha, mine.member)
    for url in MEMBER_URLS:
        assert own.get(url).status_code == 200, url
    # alpha's member token means nothing on beta's host
    with in_shop(alpha):
        from shop.members import services

        _token, key = services.token_issue(mine.member, name="x")
    from tests.conftest import shop_client

    stranger = shop_client(beta, HTTP_AUTHORIZATION=f"Bearer {key}")
    for url in MEMBER_URLS:
        assert stranger.get(url).status_code in (401, 403), url
    # and alpha's invite code binds nobody on beta
    from tests.orders.conftest import member

    someone = member(beta, "13855556666")
    client = member_client(beta, someone)
    response = client.post(
        "/api/v1/distribution/bind/", data=json.dumps({"code": mine.code}), content_type="application/json"
    )
    if response.status_code == 200:
        assert response.json()["bound"] is False
    else:
        assert response.status_code == 400
    client.get(f"/api/v1/catalogue/products/?ref={mine.code}")
    from distribution.models import Binding, Visit

    with in_shop(beta):
        assert not Binding.objects.filter(member=someone).exists()
        assert not Visit.objects.filter(code=mine.code).exists()


def test_console_ids_of_another_shop_are_404(alpha: Any, beta: Any) -> None:
    from distribution.models import Distributor, Withdrawal

    def taken_in_alpha(pk: int, model: Any) -> bool:
        with in_shop(alpha):
            return bool(model.objects.filter(pk=pk).exists())

    theirs = distributor(beta)
    while taken_in_alpha(theirs.pk, Distributor):  # ids are per schema: one alpha does not have
        theirs = distributor(beta)
    withdrawal = None
    while withdrawal is None or taken_in_alpha(withdrawal.pk, Withdrawal):
        with in_shop(beta):
            Withdrawal.objects.filter(distributor=theirs).update(status="rejected")
            withdrawal = Withdrawal.objects.create(distributor=theirs, amount=100, method="bank")
    staff = owner_client(alpha)
    assert staff.get(f"/api/v1/console/distribution/distributors/{theirs.pk}/").status_code == 404
    approve = json.dumps({"action": "freeze"})
    url = f"/api/v1/console/distribution/distributors/{theirs.pk}/"
    assert staff.post(url, data=approve, content_type="application/json").status_code == 404
    wurl = f"/api/v1/console/distribution/withdrawals/{withdrawal.pk}/"
    assert staff.post(wurl, data=json.dumps({"action": "approve"}), content_type="application/json").status_code == 404
    # the owner of beta reaches them
    assert owner_client(beta).get(f"/api/v1/console/distribution/distributors/{theirs.pk}/").status_code == 200
    with in_shop(beta):
        assert Distributor.objects.get(pk=theirs.pk).status == "active"


def test_the_url_walk_over_distribution_routes(alpha: Any, beta: Any) -> None:
    """The isolation walk of tests/test_isolation.py, on the distribution routes only (so
    it runs even while another domain's routes are being registered)."""
    from tests.isolation_objects import owned_for
    from tests.test_isolation import _fill, tenant_patterns

    owner, other = beta, alpha
    routes = [r for r, _p in tenant_patterns() if "pk>" in r and "distribution" in r]
    assert len(routes) == 10
    for route in routes:
        owned = owned_for(route)
        assert owned is not None, route
        pk = owned.make(owner)
        while owned.exists(other, pk):
            pk = owned.make(owner)
        url = _fill(route, pk)
        for method in ("get", "post", "put", "patch", "delete"):
            own = getattr(owned.login(owner), method)(url, content_type="application/json")
            if own.status_code == 405:
                continue
            assert own.status_code != 404, f"{method} {url}"
            foreign = getattr(owned.login(other), method)(url, content_type="application/json")
            assert foreign.status_code == 404, f"{method} {url} answered {foreign.status_code} on the other shop"


def test_one_shops_console_token_opens_nothing_on_another(alpha: Any, beta: Any) -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from tests.conftest import shop_client

    with in_shop(alpha):
        token, _created = Token.objects.get_or_create(user=get_user_model().objects.get(is_owner=True))
    for host, expected in ((alpha, 200), (beta, 401)):
        client = shop_client(host, HTTP_AUTHORIZATION=f"Token {token.key}")
        for url in ("settings/", "distributors/", "commissions/", "withdrawals/"):
            got = client.get(f"/api/v1/console/distribution/{url}").status_code
            assert got == expected, (host.slug, url, got)
