from django.urls import path

from shop.console import settings_page, views
from tenants.views import HandoffView

app_name = "console"
urlpatterns = [
    path("", views.ConsoleHome.as_view(), name="home"),
    path("login/", views.ConsoleLogin.as_view(), name="login"),
    path("logout/", views.ConsoleLogout.as_view(), name="logout"),
    path("handoff/", HandoffView.as_view(), name="handoff"),
    path("settings/", settings_page.SettingsPage.as_view(), name="settings"),
    path("password/", views.PasswordChangePage.as_view(), name="password"),
    path("staff/", views.StaffListView.as_view(), name="staff"),
    path("staff/<int:pk>/", views.StaffActionView.as_view(), name="staff-action"),
]
