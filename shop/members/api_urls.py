"""Members API, mounted at ``/api/v1/members/`` on shop hosts."""

from django.urls import URLPattern, URLResolver, path

from shop.members import api

app_name = "members-api"
urlpatterns: list[URLPattern | URLResolver] = [
    path("register/", api.RegisterAPI.as_view(), name="register"),
    path("login/", api.LoginAPI.as_view(), name="login"),
    path("logout/", api.LogoutAPI.as_view(), name="logout"),
    path("me/", api.MeAPI.as_view(), name="me"),
    path("me/password/", api.PasswordAPI.as_view(), name="password"),
    path("addresses/", api.AddressViewSet.as_view({"get": "list", "post": "create"}), name="address-list"),
    path(
        "addresses/<int:pk>/",
        api.AddressViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="address-detail",
    ),
    path(
        "addresses/<int:pk>/default/",
        api.AddressViewSet.as_view({"post": "set_default"}),
        name="address-default",
    ),
]
