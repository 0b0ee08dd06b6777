"""URLs of a shop's host (the shop's schema): storefront, merchant console, shop API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from billing.views import BillingAPI
from platform_core import media
from shop.catalogue import api as catalogue_api
from shop.console import api as console_api
from shop.orders import api as orders_api
from shop.storefront import api as storefront_api
from shop.stores import api as stores_api

router = SimpleRouter()
router.register("console/staff", console_api.StaffViewSet, basename="console-staff")
router.register("console/products", catalogue_api.ConsoleProducts, basename="console-products")
router.register("console/categories", catalogue_api.ConsoleCategories, basename="console-categories")
router.register("console/product-types", catalogue_api.ConsoleProductTypes, basename="console-product-types")
router.register("console/stores", stores_api.ConsoleStores, basename="console-stores")
router.register("console/orders", orders_api.ConsoleOrders, basename="console-orders")

urlpatterns = [
    path("console/billing/", include("billing.urls")),
    path("console/catalogue/", include("shop.catalogue.console_urls")),
    path("console/orders/", include("shop.orders.console_urls")),
    path("console/payments/", include("shop.payments.console_urls")),
    path("console/aftersales/", include("shop.aftersales.console_urls")),
    path("console/members/", include("shop.members.console_urls")),
    path("console/stores/", include("shop.stores.console_urls")),
    path("console/marketing/", include("shop.marketing.console_urls")),
    path("console/pages/", include("shop.decoration.console_urls")),
    path("console/theme/", include("shop.storefront.console_urls")),
    path("console/distribution/", include("distribution.console_urls")),
    path("console/", include("shop.console.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("account/orders/", include("shop.orders.storefront_urls")),
    path("account/distributor/", include("distribution.storefront_urls")),
    path("account/", include("shop.members.urls")),
    path("", include("shop.storefront.urls")),
    path("media/<path:path>", media.MediaView.as_view(), name="media"),
    path("api/v1/catalogue/", include("shop.catalogue.api_urls")),
    path("api/v1/stores/", include("shop.stores.api_urls")),
    path("api/v1/members/", include("shop.members.api_urls")),
    path("api/v1/wallet/", include("shop.wallet.api_urls")),
    path("api/v1/marketing/", include("shop.marketing.api_urls")),
    path("api/v1/console/marketing/", include("shop.marketing.console_api_urls")),
    path("api/v1/", include("shop.aftersales.api_urls")),
    path("api/v1/", include("shop.orders.api_urls")),
    path("api/v1/distribution/", include("distribution.api_urls")),
    path("api/v1/console/distribution/", include("distribution.console_api_urls")),
    path("api/v1/theme/", storefront_api.ThemeAPI.as_view(), name="api-theme"),
    path("api/v1/console/theme/code/", storefront_api.ThemeCodeAPI.as_view(), name="api-console-theme-code"),
    path(
        "api/v1/console/theme/code/publish/",
        storefront_api.ThemeCodePublishAPI.as_view(),
        name="api-console-theme-code-publish",
    ),
    path("api/v1/console/token/", console_api.ConsoleTokenAPI.as_view(), name="api-console-token"),
    path("api/v1/console/shop/", console_api.ShopInfoAPI.as_view(), name="api-console-shop"),
    path("api/v1/console/billing/", BillingAPI.as_view(), name="api-console-billing"),
    path("api/v1/console/skus/<int:pk>/stock/", catalogue_api.ConsoleSkuStock.as_view(), name="api-console-sku-stock"),
    path("api/v1/", include("shop.decoration.api_urls")),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(urlconf=__name__), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "shop.storefront.views.not_found"
handler500 = "platform_core.errors.server_error"
