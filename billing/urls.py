from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("", views.BillingHome.as_view(), name="home"),
    path("card/", views.CardFormView.as_view(), name="card"),
    path("plan/", views.ChangePlanView.as_view(), name="change-plan"),
    path("cancel/", views.CancelView.as_view(), name="cancel"),
    path("portal/", views.PortalView.as_view(), name="portal"),
    path("checkout/", views.CheckoutView.as_view(), name="checkout"),
]
