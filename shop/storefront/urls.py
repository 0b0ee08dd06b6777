"""Storefront routes on shop hosts (the theme renders every page)."""

from django.urls import URLPattern, URLResolver, path

from shop.storefront import account, coupons, groups, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.Home.as_view(), name="storefront-home"),
    path("pages/<slug:slug>/", views.CustomPage.as_view(), name="storefront-page"),
    path("categories/", views.Categories.as_view(), name="storefront-categories"),
    path("categories/<int:pk>/", views.CategoryRedirect.as_view(), name="storefront-category"),
    path("products/", views.ProductList.as_view(), name="storefront-products"),
    path("products/<int:pk>/", views.ProductPage.as_view(), name="storefront-product"),
    path("cart/", views.CartPage.as_view(), name="storefront-cart"),
    path("cart/add/", views.CartAdd.as_view(), name="storefront-cart-add"),
    path("cart/items/<int:pk>/", views.CartItemUpdate.as_view(), name="storefront-cart-item"),
    path("checkout/", views.Checkout.as_view(), name="storefront-checkout"),
    path("coupons/", coupons.CouponCentre.as_view(), name="storefront-coupons"),
    path("coupons/<int:pk>/claim/", coupons.CouponClaim.as_view(), name="storefront-coupon-claim"),
    path("account/coupons/", coupons.MyCoupons.as_view(), name="storefront-my-coupons"),
    path("groups/<int:pk>/", groups.GroupPage.as_view(), name="storefront-group"),
    path("group-buy/<int:pk>/", groups.GroupCheckout.as_view(), name="storefront-group-buy"),
    path("account/aftersales/", account.AfterSaleList.as_view(), name="storefront-aftersales"),
    path("account/aftersales/<int:pk>/", account.AfterSaleDetail.as_view(), name="storefront-aftersale"),
    path("account/distributor/", account.DistributorCentre.as_view(), name="storefront-distributor"),
]
