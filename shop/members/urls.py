"""Storefront account pages, mounted at ``/account/`` on shop hosts."""

from django.urls import URLPattern, URLResolver, path

from shop.members import views

app_name = "members"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.AccountHome.as_view(), name="home"),
    path("register/", views.RegisterView.as_view(), name="register"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("password/", views.PasswordView.as_view(), name="password"),
    path("addresses/new/", views.AddressCreateView.as_view(), name="address-create"),
    path("addresses/<int:pk>/edit/", views.AddressEditView.as_view(), name="address-edit"),
    path("addresses/<int:pk>/delete/", views.AddressDeleteView.as_view(), name="address-delete"),
    path("addresses/<int:pk>/default/", views.AddressDefaultView.as_view(), name="address-default"),
]
