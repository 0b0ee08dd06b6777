from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from shop.catalogue import api

router = SimpleRouter()
router.register("products", api.StorefrontProducts, basename="catalogue-products")

urlpatterns: list[URLPattern | URLResolver] = [
    path("categories/", api.StorefrontCategories.as_view(), name="catalogue-categories"),
    *router.urls,
]
