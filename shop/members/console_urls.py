from django.urls import URLPattern, URLResolver, path

from shop.members import console

app_name = "members-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.MemberList.as_view(), name="members"),
    path("<int:pk>/active/", console.MemberActive.as_view(), name="active"),
]
