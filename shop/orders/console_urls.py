from django.urls import URLPattern, URLResolver, path

from shop.orders import console

app_name = "orders-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.OrderList.as_view(), name="orders"),
    path("pickup/", console.PickupVerify.as_view(), name="pickup"),
    path("<int:pk>/", console.OrderDetail.as_view(), name="order"),
]
