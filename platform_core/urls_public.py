"""URLs of the platform host (public schema): signup, operator console, API docs."""

from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing.views import StripeWebhookView
from platform_core.operator import operator_site
from shop.payments.views import StripePaymentsWebhookView
from tenants.views import SignupAPI, SignupPage

urlpatterns = [
    path("", SignupPage.as_view(), name="home"),
    path("signup/", SignupPage.as_view(), name="signup"),
    path("api/v1/signup/", SignupAPI.as_view(), name="api-signup"),
    path("billing/stripe/webhook/", StripeWebhookView.as_view(), name="stripe-webhook"),
    path("payments/stripe/webhook/", StripePaymentsWebhookView.as_view(), name="payments-stripe-webhook"),
    path("operator/", operator_site.urls),
    path("admin/", RedirectView.as_view(url="/operator/", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(urlconf=__name__), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
handler500 = "platform_core.errors.server_error"
