"""The distributor centre's form posts, mounted at ``/account/distributor/`` on shop hosts
(the centre's page itself is a storefront route)."""

from django.urls import URLPattern, URLResolver, path

from distribution import storefront

urlpatterns: list[URLPattern | URLResolver] = [
    path("apply/", storefront.DistributorApply.as_view(), name="storefront-distributor-apply"),
    path("withdraw/", storefront.DistributorWithdraw.as_view(), name="storefront-distributor-withdraw"),
]
