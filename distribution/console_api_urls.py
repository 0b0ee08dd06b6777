"""Merchant console distribution API, mounted at ``/api/v1/console/distribution/``."""

from django.urls import URLPattern, URLResolver, path

from distribution import api

app_name = "distribution-console-api"
urlpatterns: list[URLPattern | URLResolver] = [
    path("settings/", api.ConsoleSettingsAPI.as_view(), name="settings"),
    path("distributors/", api.ConsoleDistributorsAPI.as_view(), name="distributors"),
    path("distributors/<int:pk>/", api.ConsoleDistributorAPI.as_view(), name="distributor"),
    path("members/<int:pk>/binding/", api.ConsoleMemberBindingAPI.as_view(), name="member-binding"),
    path("commissions/", api.ConsoleCommissionsAPI.as_view(), name="commissions"),
    path("flags/", api.ConsoleFlagsAPI.as_view(), name="flags"),
    path("reconciliation/", api.ConsoleReconciliationAPI.as_view(), name="reconciliation"),
    path("overview/", api.ConsoleOverviewAPI.as_view(), name="overview"),
    path("rankings/", api.ConsoleRankingsAPI.as_view(), name="rankings"),
    path("withdrawals/", api.ConsoleWithdrawalsAPI.as_view(), name="withdrawals"),
    path("withdrawals/<int:pk>/", api.ConsoleWithdrawalAPI.as_view(), name="withdrawal"),
]
