"""Distributor centre API, mounted at ``/api/v1/distribution/`` on shop hosts."""

from django.urls import URLPattern, URLResolver, path

from distribution import api

app_name = "distribution-api"
urlpatterns: list[URLPattern | URLResolver] = [
    path("me/", api.CentreAPI.as_view(), name="centre"),
    path("centre/", api.CentreSummaryAPI.as_view(), name="centre-summary"),
    path("referrer/", api.ReferrerAPI.as_view(), name="referrer"),
    path("bind/", api.BindAPI.as_view(), name="bind"),
    path("commissions/", api.CommissionsAPI.as_view(), name="commissions"),
    path("team/", api.TeamAPI.as_view(), name="team"),
    path("orders/", api.OrdersAPI.as_view(), name="orders"),
    path("preview/<int:pk>/", api.PreviewAPI.as_view(), name="preview"),
    path("withdrawals/", api.WithdrawalsAPI.as_view(), name="withdrawals"),
    path("materials/", api.MaterialsAPI.as_view(), name="materials"),
    path("materials/qr.png", api.MaterialsQrAPI.as_view(), name="materials-qr"),
    path("materials/products/<int:pk>/", api.ProductMaterialsAPI.as_view(), name="materials-product"),
    path("materials/products/<int:pk>/qr.png", api.ProductQrAPI.as_view(), name="materials-product-qr"),
    path("materials/products/<int:pk>/poster.png", api.ProductPosterAPI.as_view(), name="materials-product-poster"),
    path("rankings/", api.RankingsAPI.as_view(), name="rankings"),
]
