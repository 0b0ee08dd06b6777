from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from shop.marketing import api

router = SimpleRouter()
router.register("coupons", api.ConsoleCoupons, basename="console-marketing-coupons")
router.register("discounts", api.ConsoleDiscounts, basename="console-marketing-discounts")
router.register("reductions", api.ConsoleReductions, basename="console-marketing-reductions")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
