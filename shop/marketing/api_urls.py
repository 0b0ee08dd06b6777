from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from shop.marketing import api, api_activities

router = SimpleRouter()
router.register("coupons", api.ClaimCentre, basename="marketing-coupons")
router.register("my-coupons", api.MyCoupons, basename="marketing-my-coupons")
router.register("group-deals", api_activities.GroupDeals, basename="marketing-group-deals")
router.register("groups", api_activities.Groups, basename="marketing-groups")

urlpatterns: list[URLPattern | URLResolver] = [
    path("products/<int:pk>/offers/", api.ProductOffers.as_view(), name="marketing-product-offers"),
    path("flash-sales/", api_activities.FlashSales.as_view(), name="marketing-flash-sales"),
    path("my-groups/", api_activities.MyGroups.as_view(), name="marketing-my-groups"),
    *router.urls,
]
