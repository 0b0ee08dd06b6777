from django.urls import URLPattern, URLResolver, path

from shop.catalogue import console

app_name = "catalogue-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("products/", console.ProductList.as_view(), name="products"),
    path("products/new/", console.ProductForm.as_view(), name="product-new"),
    path("products/<int:pk>/", console.ProductForm.as_view(), name="product-edit"),
]
