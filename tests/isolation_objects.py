"""What the URL walk in tests/test_isolation.py needs to test every pattern that takes an
id: for each route prefix, how to make one object in a shop, whether a shop has an object
with that id, and how to log in there. A new pattern with ``<pk>`` must be added here, or
the walk fails and says so."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.test import Client

from tests.conftest import PASSWORD, in_shop, owner_client


@dataclass(frozen=True)
class Owned:
    prefix: str
    make: Callable[[Any], int]
    exists: Callable[[Any, int], bool]
    login: Callable[[Any], Client] = owner_client


_serial = itertools.count(1)


def _staff(tenant: Any) -> int:
    from shop import staff

    email = f"clerk{next(_serial)}-{tenant.slug}@walk.test"
    with in_shop(tenant):
        return int(staff.staff_add(tenant, email=email, name="", password=PASSWORD).pk)


def _staff_exists(tenant: Any, pk: int) -> bool:
    from shop import staff

    with in_shop(tenant):
        return bool(staff.staff_list().filter(pk=pk).exists())


def _product(tenant: Any, *, on_sale: bool = True) -> int:
    from shop.catalogue import services

    with in_shop(tenant):
        product = services.product_save(tenant, {"name": "Walk", "skus": [{"spec": {}, "price": 100, "stock": 1}]})
        if on_sale:
            services.product_set_status([product], "on_sale")
        return int(product.pk)


def _product_exists(tenant: Any, pk: int) -> bool:
    from shop.catalogue.models import Product

    with in_shop(tenant):
        return bool(Product.objects.filter(pk=pk).exists())


def _category(tenant: Any) -> int:
    from shop.catalogue import services

    with in_shop(tenant):
        return int(services.category_save(name=f"Walk {next(_serial)}").pk)


def _category_exists(tenant: Any, pk: int) -> bool:
    from shop.catalogue.models import Category

    with in_shop(tenant):
        return bool(Category.objects.filter(pk=pk).exists())


def _sku(tenant: Any) -> int:
    from shop.catalogue.models import Sku

    product = _product(tenant)
    with in_shop(tenant):
        return int(Sku.objects.get(product_id=product).pk)


def _sku_exists(tenant: Any, pk: int) -> bool:
    from shop.catalogue.models import Sku

    with in_shop(tenant):
        return bool(Sku.objects.filter(pk=pk).exists())


def _walker(tenant: Any) -> Any:
    """The shop's member who owns the walk's addresses (one per shop)."""
    from shop.members.models import Member
    from tests.members.factories import make_member

    with in_shop(tenant):
        walker = Member.objects.filter(email="walker@walk.test").first()
    return walker or make_member(tenant, email="walker@walk.test")


def _address(tenant: Any) -> int:
    from tests.members.factories import make_address

    return int(make_address(tenant, _walker(tenant)).pk)


def _address_exists(tenant: Any, pk: int) -> bool:
    from shop.members.models import Address

    with in_shop(tenant):
        return bool(Address.objects.filter(pk=pk).exists())


def _member_login(tenant: Any) -> Client:
    from tests.members.factories import member_client

    return member_client(tenant, _walker(tenant))


def _store(tenant: Any) -> int:
    from shop.stores import services

    n = next(_serial)
    data = {
        "name": f"Walk store {n}",
        "phone": "13800138000",
        "province": "北京市",
        "city": "北京市",
        "district": "东城区",
        "address": f"王府井大街 {n} 号",
    }
    with in_shop(tenant):
        return int(services.store_create(tenant, data).pk)


def _store_exists(tenant: Any, pk: int) -> bool:
    from shop.stores.models import Store

    with in_shop(tenant):
        return bool(Store.objects.filter(pk=pk).exists())


def _buyer(tenant: Any) -> Any:
    from shop.members import services
    from shop.members.models import Member

    phone = f"1380013{next(_serial):04d}"
    with in_shop(tenant):
        found = Member.objects.filter(name="walker").first()
        if found:
            return found
        member = services.member_register(phone=phone, password=PASSWORD, name="walker")
        services.address_create(
            member,
            recipient="张三",
            phone=phone,
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路 1 号",
        )
        return member


def _buyer_client(tenant: Any) -> Client:
    from shop.members import services
    from tests.conftest import shop_client

    member = _buyer(tenant)
    with in_shop(tenant):
        _token, key = services.token_issue(member, name="walk")
    return shop_client(tenant, HTTP_AUTHORIZATION=f"Bearer {key}")


def _buyer_session(tenant: Any) -> Client:
    """The storefront's own session login of the walking buyer."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from shop.members.auth import SESSION_HASH_KEY, SESSION_KEY, session_hash
    from tests.conftest import shop_client

    client = shop_client(tenant)
    member = _buyer(tenant)
    # the session a login makes, made directly: the walk logs in hundreds of times, more
    # than the login form's rate limit allows (the form itself is tested in tests/members)
    with in_shop(tenant):
        store = SessionStore()
        store[SESSION_KEY] = member.pk
        store[SESSION_HASH_KEY] = session_hash(member)
        store.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key or ""
    return client


def _another_member(tenant: Any) -> int:
    """A member the walk may disable (not the walking buyer, who must stay able to log in)."""
    from shop.members import services

    with in_shop(tenant):
        return int(services.member_register(phone=f"1390013{next(_serial):04d}", password=PASSWORD).pk)


def _member_exists(tenant: Any, pk: int) -> bool:
    from shop.members.models import Member

    with in_shop(tenant):
        return bool(Member.objects.filter(pk=pk).exists())


def _order(tenant: Any) -> int:
    from shop.orders import services

    sku = _sku(tenant)
    member = _buyer(tenant)
    with in_shop(tenant):
        order = services.order_create(
            member, items=[(sku, 1, None)], fulfilment="delivery", address_id=member.addresses.get().pk
        )
        return int(order.pk)


def _order_exists(tenant: Any, pk: int) -> bool:
    from shop.orders.models import Order

    with in_shop(tenant):
        return bool(Order.objects.filter(pk=pk).exists())


def _cart_item(tenant: Any) -> int:
    from shop.checkout import services

    sku = _sku(tenant)
    with in_shop(tenant):
        return int(services.cart_add(services.cart_for_member(_buyer(tenant)), sku, 1).pk)


def _cart_item_exists(tenant: Any, pk: int) -> bool:
    from shop.checkout.models import CartItem

    with in_shop(tenant):
        return bool(CartItem.objects.filter(pk=pk).exists())


def _aftersale(tenant: Any) -> int:
    from shop.aftersales import selectors, services
    from shop.payments import services as payments

    member = _buyer(tenant)
    order_pk = _order(tenant)
    with in_shop(tenant):
        from shop.orders.models import Order

        order = Order.objects.get(pk=order_pk)
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")
        data = {
            "kind": "refund_only",
            "reason": selectors.reasons().first().pk,  # type: ignore[union-attr]
            "lines": [{"line": order.lines.get().pk, "quantity": 1}],
        }
        return int(services.aftersale_request(member, order, data).pk)


def _aftersale_exists(tenant: Any, pk: int) -> bool:
    from shop.aftersales.models import AfterSale

    with in_shop(tenant):
        return bool(AfterSale.objects.filter(pk=pk).exists())


def _aftersale_reason(tenant: Any) -> int:
    from shop.aftersales import selectors, services

    with in_shop(tenant):
        selectors.reasons()
        return int(services.reason_save({"name": f"Walk {next(_serial)}"}).pk)


def _aftersale_reason_exists(tenant: Any, pk: int) -> bool:
    from shop.aftersales.models import AfterSaleReason

    with in_shop(tenant):
        return bool(AfterSaleReason.objects.filter(pk=pk).exists())


def _coupon_template(tenant: Any) -> int:
    from tests.marketing.helpers import coupon_template

    return int(coupon_template(tenant, name=f"Walk {next(_serial)}").pk)


def _coupon_template_exists(tenant: Any, pk: int) -> bool:
    from shop.marketing.models import CouponTemplate

    with in_shop(tenant):
        return bool(CouponTemplate.objects.filter(pk=pk).exists())


def _member_coupon(tenant: Any) -> int:
    from tests.marketing.helpers import coupon_template, give_coupon

    return int(give_coupon(tenant, coupon_template(tenant, name=f"Walk {next(_serial)}"), _buyer(tenant)))


def _member_coupon_exists(tenant: Any, pk: int) -> bool:
    from shop.marketing.models import MemberCoupon

    with in_shop(tenant):
        return bool(MemberCoupon.objects.filter(pk=pk).exists())


def _discount(tenant: Any) -> int:
    from tests.marketing.helpers import discount

    return int(discount(tenant, [{"product": _product(tenant), "percent_off": 10}]).pk)


def _discount_exists(tenant: Any, pk: int) -> bool:
    from shop.marketing.models import LimitedDiscount

    with in_shop(tenant):
        return bool(LimitedDiscount.objects.filter(pk=pk).exists())


def _reduction(tenant: Any) -> int:
    from tests.marketing.helpers import reduction

    return int(reduction(tenant, [{"threshold": 10000, "value": 1000}]).pk)


def _reduction_exists(tenant: Any, pk: int) -> bool:
    from shop.marketing.models import FullReduction

    with in_shop(tenant):
        return bool(FullReduction.objects.filter(pk=pk).exists())


def _flash_session(tenant: Any) -> int:
    from shop.catalogue.models import Product
    from tests.marketing.helpers import flash_session

    product = _product(tenant)
    with in_shop(tenant):
        sku = Product.objects.get(pk=product).skus.get()
    return int(flash_session(tenant, [{"sku": sku.pk, "price": 50, "stock": 1}], name=f"Walk {next(_serial)}").pk)


def _flash_session_exists(tenant: Any, pk: int) -> bool:
    from shop.marketing.models import FlashSession

    with in_shop(tenant):
        return bool(FlashSession.objects.filter(pk=pk).exists())


def _group_deal(tenant: Any) -> int:
    from shop.catalogue.models import Product
    from tests.marketing.helpers import group_deal

    product = _product(tenant)
    with in_shop(tenant):
        sku = Product.objects.get(pk=product).skus.get()
    return int(group_deal(tenant, [{"sku": sku.pk, "price": 50}], name=f"Walk {next(_serial)}").pk)


def _group_deal_exists(tenant: Any, pk: int) -> bool:
    from shop.marketing.models import GroupDeal

    with in_shop(tenant):
        return bool(GroupDeal.objects.filter(pk=pk).exists())


def _group(tenant: Any) -> int:
    """An open group (its leader's order paid) of a new deal."""
    from datetime import timedelta

    from django.utils import timezone

    from shop.marketing.models import Group, GroupDeal

    deal_id = _group_deal(tenant)
    leader = _buyer(tenant)
    with in_shop(tenant):
        deal = GroupDeal.objects.get(pk=deal_id)
        group = Group.objects.create(
            deal=deal,
            leader=leader,
            size=deal.size,
            status=Group.Status.OPEN,
            opened_at=timezone.now(),
            expires_at=timezone.now() + timedelta(hours=1),
        )
        return int(group.pk)


def _group_exists(tenant: Any, pk: int) -> bool:
    from shop.marketing.models import Group

    with in_shop(tenant):
        return bool(Group.objects.filter(pk=pk).exists())


def _distributor(tenant: Any) -> int:
    from distribution import services
    from shop.members import services as members

    with in_shop(tenant):
        someone = members.member_register(phone=f"1370013{next(_serial):04d}", password=PASSWORD)
        made = services.distributor_qualify(someone, reason="walk")
        assert made is not None
        return int(made.pk)


def _distributor_exists(tenant: Any, pk: int) -> bool:
    from distribution.models import Distributor

    with in_shop(tenant):
        return bool(Distributor.objects.filter(pk=pk).exists())


def _withdrawal(tenant: Any) -> int:
    from distribution.models import Withdrawal

    distributor = _distributor(tenant)
    with in_shop(tenant):
        return int(Withdrawal.objects.create(distributor_id=distributor, amount=100, method="bank").pk)


def _withdrawal_exists(tenant: Any, pk: int) -> bool:
    from distribution.models import Withdrawal

    with in_shop(tenant):
        return bool(Withdrawal.objects.filter(pk=pk).exists())


def _sharer_client(tenant: Any) -> Client:
    """The walking buyer as an active distributor of a shop whose distribution is on (the
    promotion materials answer only them)."""
    from distribution import services
    from distribution.models import DistributionSettings
    from shop.members import services as members
    from tests.conftest import shop_client

    member = _buyer(tenant)
    with in_shop(tenant):
        settings = DistributionSettings.current()
        if not settings.enabled:
            settings.enabled = True
            settings.save(update_fields=["enabled"])
        services.distributor_qualify(member, reason="walk")
        _token, key = members.token_issue(member, name="walk")
    return shop_client(tenant, HTTP_AUTHORIZATION=f"Bearer {key}")


REGISTRY: list[Owned] = [
    Owned("api/v1/marketing/coupons/", _coupon_template, _coupon_template_exists, _buyer_client),
    Owned("api/v1/marketing/my-coupons/", _member_coupon, _member_coupon_exists, _buyer_client),
    Owned("api/v1/marketing/products/", _product, _product_exists, _buyer_client),
    Owned("api/v1/console/marketing/coupons/", _coupon_template, _coupon_template_exists),
    Owned("api/v1/console/marketing/discounts/", _discount, _discount_exists),
    Owned("api/v1/console/marketing/reductions/", _reduction, _reduction_exists),
    Owned("console/marketing/coupons/", _coupon_template, _coupon_template_exists),
    Owned("console/marketing/discounts/", _discount, _discount_exists),
    Owned("console/marketing/reductions/", _reduction, _reduction_exists),
    Owned("api/v1/marketing/group-deals/", _group_deal, _group_deal_exists, _buyer_client),
    Owned("api/v1/marketing/groups/", _group, _group_exists, _buyer_client),
    Owned("groups/", _group, _group_exists),
    Owned("coupons/", _coupon_template, _coupon_template_exists, _buyer_session),
    Owned("group-buy/", _group_deal, _group_deal_exists, _buyer_session),
    Owned("api/v1/console/marketing/flash-sales/", _flash_session, _flash_session_exists),
    Owned("api/v1/console/marketing/group-deals/", _group_deal, _group_deal_exists),
    Owned("console/marketing/flash-sales/", _flash_session, _flash_session_exists),
    Owned("console/marketing/group-deals/", _group_deal, _group_deal_exists),
    Owned("api/v1/aftersales/", _aftersale, _aftersale_exists, _buyer_client),
    Owned("api/v1/console/aftersales/", _aftersale, _aftersale_exists),
    Owned("api/v1/console/distribution/distributors/", _distributor, _distributor_exists),
    Owned("api/v1/console/distribution/members/", _another_member, _member_exists),
    Owned("api/v1/console/distribution/withdrawals/", _withdrawal, _withdrawal_exists),
    Owned("console/distribution/distributors/", _distributor, _distributor_exists),
    Owned("console/distribution/withdrawals/", _withdrawal, _withdrawal_exists),
    Owned("api/v1/distribution/preview/", _product, _product_exists),
    Owned("api/v1/distribution/materials/products/", _product, _product_exists, _sharer_client),
    Owned("console/distribution/members/", _another_member, _member_exists),
    Owned("api/v1/console/aftersale-reasons/", _aftersale_reason, _aftersale_reason_exists),
    Owned("console/aftersales/", _aftersale, _aftersale_exists),
    Owned("console/aftersales/reasons/", _aftersale_reason, _aftersale_reason_exists),
    Owned("api/v1/orders/", _order, _order_exists, _buyer_client),
    Owned("api/v1/cart/items/", _cart_item, _cart_item_exists, _buyer_client),
    Owned("api/v1/console/orders/", _order, _order_exists),
    Owned("account/orders/", _order, _order_exists, _buyer_session),
    Owned("account/aftersales/", _aftersale, _aftersale_exists, _buyer_session),
    Owned("cart/items/", _cart_item, _cart_item_exists, _buyer_session),
    Owned("products/", _product, _product_exists),
    Owned("categories/", _category, _category_exists),
    Owned("console/members/", _another_member, _member_exists),
    Owned("console/orders/", _order, _order_exists),
    Owned("console/staff/", _staff, _staff_exists),
    Owned("api/v1/console/staff/", _staff, _staff_exists),
    Owned("api/v1/catalogue/products/", _product, _product_exists),
    Owned("api/v1/console/products/", lambda t: _product(t, on_sale=False), _product_exists),
    Owned("console/catalogue/products/", lambda t: _product(t, on_sale=False), _product_exists),
    Owned("api/v1/console/categories/", _category, _category_exists),
    Owned("api/v1/console/skus/", _sku, _sku_exists),
    Owned("console/stores/", _store, _store_exists),
    Owned("api/v1/console/stores/", _store, _store_exists),
    Owned("account/addresses/", _address, _address_exists, _member_login),
    Owned("api/v1/members/addresses/", _address, _address_exists, _member_login),
]


def owned_for(route: str) -> Owned | None:
    route = route.replace("^", "")
    matches = [o for o in REGISTRY if route.startswith(o.prefix)]
    return max(matches, key=lambda o: len(o.prefix)) if matches else None
