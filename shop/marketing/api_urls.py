from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from shop.marketing import api

router = SimpleRouter()
router.register("coupons", api.ClaimCentre, basename="marketing-coupons")
router.register("my-coupons", api.MyCoupons, basename="marketing-my-coupons")

urlpatterns: list[URLPattern | URLResolver] = [
    path("products/<int:pk>/offers/", api.ProductOffers.as_view(), name="marketing-product-offers"),
    *router.urls,
]
