"""The member's orders on the storefront (``/account/orders/``), rendered by the theme."""

from django.urls import URLPattern, URLResolver, path

from shop.storefront import views

app_name = "member-orders"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.OrderList.as_view(), name="list"),
    path("<int:pk>/", views.OrderDetail.as_view(), name="detail"),
    path("<int:pk>/pay/", views.PayPage.as_view(), name="pay"),
    path("<int:pk>/aftersale/", views.AfterSaleNew.as_view(), name="aftersale"),
    path("<int:pk>/cancel/", views.OrderAction.as_view(), {"action": "cancel"}, name="cancel"),
    path("<int:pk>/confirm/", views.OrderAction.as_view(), {"action": "confirm"}, name="confirm"),
]
