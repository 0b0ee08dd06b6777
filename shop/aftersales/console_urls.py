from django.urls import URLPattern, URLResolver, path

from shop.aftersales import console

app_name = "aftersales-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.AfterSaleList.as_view(), name="list"),
    path("reasons/", console.ReasonList.as_view(), name="reasons"),
    path("reasons/<int:pk>/", console.ReasonEdit.as_view(), name="reason"),
    path("<int:pk>/", console.AfterSaleDetail.as_view(), name="detail"),
]
