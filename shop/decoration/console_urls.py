from django.urls import URLPattern, URLResolver, path

from shop.decoration import console

app_name = "decoration-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.PageList.as_view(), name="pages"),
    path("<slug:slug>/", console.PageEditor.as_view(), name="editor"),
]
