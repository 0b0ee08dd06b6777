from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from shop.marketing import api, api_activities

router = SimpleRouter()
router.register("coupons", api.ConsoleCoupons, basename="console-marketing-coupons")
router.register("discounts", api.ConsoleDiscounts, basename="console-marketing-discounts")
router.register("reductions", api.ConsoleReductions, basename="console-marketing-reductions")
router.register("flash-sales", api_activities.ConsoleFlashSales, basename="console-marketing-flash-sales")
router.register("group-deals", api_activities.ConsoleGroupDeals, basename="console-marketing-group-deals")

urlpatterns: list[URLPattern | URLResolver] = [
    path("settings/", api_activities.ConsoleMarketingSettings.as_view(), name="console-marketing-settings"),
    *router.urls,
]
