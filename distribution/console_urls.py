from django.urls import path

from distribution import console

app_name = "distribution-console"
urlpatterns = [
    path("", console.DistributionOverview.as_view(), name="overview"),
    path("settings/", console.DistributionSettingsPage.as_view(), name="settings"),
    path("reconcile/", console.ReconcileNow.as_view(), name="reconcile"),
    path("commissions/", console.CommissionLineList.as_view(), name="commissions"),
    path("bindings/", console.BindingLookup.as_view(), name="bindings"),
    path("members/<int:pk>/binding/", console.MemberBindingPage.as_view(), name="member-binding"),
    path("distributors/", console.DistributorList.as_view(), name="distributors"),
    path("distributors/<int:pk>/", console.DistributorActionPage.as_view(), name="distributor"),
    path("withdrawals/", console.WithdrawalQueue.as_view(), name="withdrawals"),
    path("withdrawals/<int:pk>/", console.WithdrawalActionPage.as_view(), name="withdrawal"),
]
