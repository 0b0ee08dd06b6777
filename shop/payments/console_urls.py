from django.urls import URLPattern, URLResolver, path

from shop.payments import console

app_name = "payments-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.PaymentSettingsPage.as_view(), name="settings"),
]
