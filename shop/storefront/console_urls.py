from django.urls import URLPattern, URLResolver, path

from shop.storefront import console

app_name = "theme-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.ThemeConsole.as_view(), name="theme"),
    path("code/", console.OverrideConsole.as_view(), name="overrides"),
]
