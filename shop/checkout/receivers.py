"""At login, a guest cart (cookie ``cart``) joins the member's cart."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from shop.checkout.models import Cart
from shop.checkout.services import cart_for_member, cart_merge
from shop.members.signals import member_logged_in

GUEST_CART_COOKIE = "cart"


@receiver(member_logged_in, dispatch_uid="checkout-merge-guest-cart")
def merge_guest_cart(sender: Any, request: Any, member: Any, **kwargs: Any) -> None:
    token = request.COOKIES.get(GUEST_CART_COOKIE) or request.headers.get("X-Cart-Token")
    if not token:
        return
    guest = Cart.objects.filter(guest_token=token, member__isnull=True).first()
    if guest is not None:
        cart_merge(guest, cart_for_member(member))
