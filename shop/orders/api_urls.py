from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from shop.orders import api

router = SimpleRouter()
router.register("orders", api.MemberOrders, basename="member-orders")

urlpatterns: list[URLPattern | URLResolver] = [
    path("cart/", api.CartAPI.as_view(), name="cart"),
    path("cart/items/", api.CartItemsAPI.as_view(), name="cart-items"),
    path("cart/items/<int:pk>/", api.CartItemAPI.as_view(), name="cart-item"),
    path("checkout/quote/", api.QuoteAPI.as_view(), name="checkout-quote"),
    *router.urls,
]
