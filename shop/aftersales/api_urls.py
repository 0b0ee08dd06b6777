from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from shop.aftersales import api

router = SimpleRouter()
router.register("aftersales", api.MemberAfterSales, basename="member-aftersales")
router.register("console/aftersales", api.ConsoleAfterSales, basename="console-aftersales")
router.register("console/aftersale-reasons", api.ConsoleReasons, basename="console-aftersale-reasons")

urlpatterns: list[URLPattern | URLResolver] = [
    path("orders/<int:pk>/aftersales/", api.OrderAfterSalesAPI.as_view(), name="order-aftersales"),
    path("aftersale-reasons/", api.ReasonsAPI.as_view(), name="aftersale-reasons"),
    *router.urls,
]
