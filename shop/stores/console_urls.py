from django.urls import URLPattern, URLResolver, path

from shop.stores import console

app_name = "stores-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.StoreList.as_view(), name="stores"),
    path("new/", console.StoreForm.as_view(), name="store-new"),
    path("<int:pk>/", console.StoreForm.as_view(), name="store-edit"),
    path("<int:pk>/active/", console.StoreActive.as_view(), name="store-active"),
]
