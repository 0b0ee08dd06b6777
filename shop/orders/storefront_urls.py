"""The member's orders on the storefront (``/account/orders/``), rendered by the theme."""

from django.urls import URLPattern, URLResolver, path

from shop.storefront import account

app_name = "member-orders"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", account.OrderList.as_view(), name="list"),
    path("<int:pk>/", account.OrderDetail.as_view(), name="detail"),
    path("<int:pk>/pay/", account.PayPage.as_view(), name="pay"),
    path("<int:pk>/aftersale/", account.AfterSaleNew.as_view(), name="aftersale"),
    path("<int:pk>/cancel/", account.OrderAction.as_view(), {"action": "cancel"}, name="cancel"),
    path("<int:pk>/confirm/", account.OrderAction.as_view(), {"action": "confirm"}, name="confirm"),
]
