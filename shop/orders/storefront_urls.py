from django.urls import URLPattern, URLResolver, path

from shop.orders import storefront

app_name = "member-orders"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", storefront.OrderHistory.as_view(), name="list"),
    path("<int:pk>/", storefront.OrderDetailPage.as_view(), name="detail"),
]
